// plot_scripts.h: where `dejavu` finds the plot scripts it runs after measure and eval, so that plots work
// from any working directory. In order: $DEJAVU_SOURCE_DIR/scripts (an override, e.g. a source checkout
// being edited); <bin>/../share/dejavu/scripts (what `cmake --install` lays out beside bin/dejavu);
// <bin>/share/dejavu/scripts (the build tree, a link to the source's scripts/ made when configuring).
// <bin> is the folder of the running executable (/proc/self/exe), not the working directory.
#pragma once

#include <string>
#include <vector>

namespace dv {

// The folders searched for plot_<what>.py, in order.
std::vector<std::string> plot_script_dirs();

// The first existing <dir>/plot_<what>.py, or "" when none.
std::string find_plot_script(const std::string& what);

// Runs plot_<what>.py over a results dir when python3 with matplotlib is available; a missing plotter is a
// warning, not an error (plots are for people, the CSV/JSON are the results).
void try_plot(const std::string& what, const std::string& out_dir);

}  // namespace dv
