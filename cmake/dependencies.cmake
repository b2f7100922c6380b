# Finds every dependency with no flags after scripts/install_deps.sh has run.
# LibTorch: Torch_DIR / CMAKE_PREFIX_PATH if set, else the pip-installed torch of python3.

# ccache when present: rebuilds, other worktrees and CI's clean clone reuse objects (scripts/build.sh sets
# CCACHE_BASEDIR to the checkout so that paths inside it hash the same from any clone).
find_program(DEJAVU_CCACHE ccache)
if(DEJAVU_CCACHE)
  set(CMAKE_C_COMPILER_LAUNCHER ${DEJAVU_CCACHE})
  set(CMAKE_CXX_COMPILER_LAUNCHER ${DEJAVU_CCACHE})
  set(CMAKE_CUDA_COMPILER_LAUNCHER ${DEJAVU_CCACHE})
endif()

# CUDA first: nvcc 13 rejects torch's compute_50 default, so the arch list must be set before Torch.
include(CheckLanguage)
if(DEJAVU_CUDA)
  if(NOT CMAKE_CUDA_COMPILER AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  check_language(CUDA)
endif()
if(DEJAVU_CUDA AND CMAKE_CUDA_COMPILER)
  enable_language(CUDA)
  set(CMAKE_CUDA_STANDARD 17)
  find_package(CUDAToolkit REQUIRED)
  set(DEJAVU_HAVE_CUDA ON)
else()
  set(DEJAVU_HAVE_CUDA OFF)
endif()
set(TORCH_CUDA_ARCH_LIST "9.0" CACHE STRING "Arch list handed to Torch's CMake config")

if(NOT Torch_DIR AND NOT CMAKE_PREFIX_PATH MATCHES "[Tt]orch")
  find_package(Python3 COMPONENTS Interpreter REQUIRED)
  execute_process(
    COMMAND ${Python3_EXECUTABLE} -c "import torch;print(torch.utils.cmake_prefix_path)"
    OUTPUT_VARIABLE _torch_prefix OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE _torch_rc ERROR_QUIET)
  if(NOT _torch_rc EQUAL 0)
    message(FATAL_ERROR "LibTorch not found: set Torch_DIR, or run scripts/install_deps.sh (pip install torch==2.11.0)")
  endif()
  list(APPEND CMAKE_PREFIX_PATH "${_torch_prefix}")
endif()
# Torch's config looks for cuDNN etc. only to describe itself; silence its CUDA probing noise.
find_package(Torch REQUIRED)
# Torch's interface flags carry -D_GLIBCXX_USE_CXX11_ABI and include dirs; its CUDA flags are not wanted on our .cu files.
set_property(TARGET torch PROPERTY INTERFACE_COMPILE_OPTIONS "")
if(DEJAVU_HAVE_CUDA)
  # Torch's config resets CMAKE_CUDA_ARCHITECTURES to OFF, so ours is set after it: sm_90 machine code
  # for the H100 plus compute_80 PTX that other GPUs can JIT.
  set(CMAKE_CUDA_ARCHITECTURES "90-real;80-virtual")
endif()

find_package(fmt REQUIRED)
find_package(yaml-cpp REQUIRED)
find_package(Eigen3 3.3 REQUIRED NO_MODULE)
find_package(nlohmann_json 3 REQUIRED)
find_package(CLI11 REQUIRED)
find_package(GTest REQUIRED)
find_package(HDF5 REQUIRED COMPONENTS C)
find_package(Threads REQUIRED)
