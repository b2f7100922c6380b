"""malformed_cases.py: the malformed-input cases of test_malformed_inputs.py, and the helpers that corrupt
copies of a valid checkpoint to make them.

A case is (name, subcommand, make) where make(case_dir, env) returns (argv after the subcommand, the text the
error line must contain: the offending file, or the offending value for a bad option). env holds "pre" (a
valid single-file checkpoint), "sharded" (a valid fp16 checkpoint with model.safetensors.index.json),
"text" (a valid UTF-8 text file) and "artifact", a function giving the path of a valid "store" (made by
`dejavu collect` on "pre") or "predictors" directory (made by `dejavu train` on that store), built once on
first use.
"""
import json
import os
import shutil
import struct
import subprocess


# ---- safetensors editing --------------------------------------------------------------------------------

def read_st(path):
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    return json.loads(raw[8:8 + n]), raw[8 + n:]


def write_st(path, header, data, length=None):
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text) if length is None else length) + text + data)


def edit_header(path, fn):
    header, data = read_st(path)
    fn(header)
    write_st(path, header, data)


def tensor_key(header, suffix):
    keys = [k for k in header if k.endswith(suffix)]
    assert len(keys) == 1, (suffix, keys)
    return keys[0]


def edit_json(path, fn):
    with open(path) as f:
        j = json.load(f)
    fn(j)
    with open(path, "w") as f:
        json.dump(j, f)


def write(path, data):
    with open(path, "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)


# ---- the cases ------------------------------------------------------------------------------------------

def ppl(model, text, *extra):
    """perplexity's arguments; extra options replace the defaults of the same name (--device cpu)."""
    argv = ["--model", model, "--text", text, "--max-tokens", "48"]
    if "--device" not in extra:
        argv += ["--device", "cpu"]
    return argv + list(extra)


def copy_model(src, case_dir):
    dst = os.path.join(case_dir, "model")
    shutil.copytree(src, dst)
    return dst


def model_case(edit, source="pre", argv=None):
    """A case on a copy of a valid checkpoint (source "pre" or "sharded"): edit(model_dir) breaks it and
    returns the path the error must name; argv(model_dir, env) gives the command (default: perplexity)."""
    def run(d, env):
        m = copy_model(env[source], d)
        names = edit(m)
        return (argv(m, env) if argv else ppl(m, env["text"])), names
    return run


def shard_case(edit):
    """model.safetensors of the single-file checkpoint, changed by edit(path)."""
    def fn(m):
        shard = os.path.join(m, "model.safetensors")
        edit(shard)
        return shard
    return model_case(fn)


def header_case(fn):
    return shard_case(lambda p: edit_header(p, fn))


def truncate(path, keep):
    with open(path, "rb") as f:
        raw = f.read()
    write(path, raw[:keep(len(raw))])


def set_length(value):
    def edit(path):
        header, data = read_st(path)
        write_st(path, header, data, length=value(os.path.getsize(path)))
    return edit


def overlap(h):
    q, k = tensor_key(h, "layers.0.self_attn.q_proj.bias"), tensor_key(h, "layers.0.self_attn.k_proj.bias")
    h[k]["data_offsets"] = list(h[q]["data_offsets"])


def out_of_range(h):
    k = tensor_key(h, "layers.2.fc2.bias")
    b, e = h[k]["data_offsets"]
    h[k]["data_offsets"] = [b + 10**9, e + 10**9]


def begin_after_end(h):
    k = tensor_key(h, "layers.1.fc1.bias")
    b, e = h[k]["data_offsets"]
    h[k]["data_offsets"] = [e, b]


def set_field(suffix, field, value):
    def fn(h):
        h[tensor_key(h, suffix)][field] = value
    return fn


def missing_tensor(m):
    edit_header(os.path.join(m, "model.safetensors"), lambda h: h.pop(tensor_key(h, "layers.1.fc2.weight")))
    return m


def no_weights(m):
    os.remove(os.path.join(m, "model.safetensors"))
    return m


def config_case(change):
    """config.json replaced by text (a str) or edited by change(dict)."""
    def fn(m):
        cfg = os.path.join(m, "config.json")
        if isinstance(change, str):
            write(cfg, change)
        else:
            edit_json(cfg, change)
        return cfg
    return model_case(fn)


def config_missing(m):
    cfg = os.path.join(m, "config.json")
    os.remove(cfg)
    return cfg


def more_layers_than_weights(m):
    edit_json(os.path.join(m, "config.json"), lambda j: j.update(num_hidden_layers=4))
    return m


def first_shard(m):
    return os.path.join(m, sorted(f for f in os.listdir(m) if f.endswith(".safetensors"))[0])


def index_case(change):
    """model.safetensors.index.json of the sharded checkpoint replaced by text or edited by change(dict)."""
    def fn(m):
        index = os.path.join(m, "model.safetensors.index.json")
        if isinstance(change, str):
            write(index, change)
        else:
            edit_json(index, change)
        return index
    return model_case(fn, source="sharded")


def shard_deleted(m):
    shard = first_shard(m)
    os.remove(shard)
    return shard


def shard_truncated(m):
    shard = first_shard(m)
    truncate(shard, lambda n: n - 1000)
    return shard


def tokenizer_case(name, content):
    """A tokenizer file removed (None), edited (a function of its path) or replaced (text)."""
    def fn(m):
        path = os.path.join(m, name)
        if content is None:
            os.remove(path)
        elif callable(content):
            content(path)
        else:
            write(path, content)
        return path
    return model_case(fn)


def append_line(line):
    def fn(path):
        with open(path, "a") as f:
            f.write(line)
    return fn


def text_case(content):
    """--text names a file holding content (bytes or str), a directory ("dir"), or nothing (None)."""
    def run(d, env):
        path = os.path.join(d, "text.txt")
        if content == "dir":
            os.makedirs(path)
        elif content is not None:
            write(path, content)
        return ppl(env["pre"], path), path
    return run


def option_case(*extra, names):
    def run(d, env):
        return ppl(env["pre"], env["text"], *extra), names
    return run


def generate_argv(m, env):
    return ["--model", m, "--prompt", "Hello", "--max-new-tokens", "2", "--device", "cpu"]


def generate_truncated(m):
    shard = os.path.join(m, "model.safetensors")
    truncate(shard, lambda n: n - 4096)
    return shard


def generate_bad_config(m):
    cfg = os.path.join(m, "config.json")
    write(cfg, "nope")
    return cfg


def experiment_case(yaml_text):
    def run(d, env):
        path = os.path.join(d, "exp.yaml")
        write(path, yaml_text.replace("@MODEL@", env["pre"]).replace("@TEXT@", env["text"]))
        return [path], path
    return run


def garbage_store(d):
    """A file that starts like HDF5 and then is noise (a half-copied store)."""
    path = os.path.join(d, "acts.h5")
    write(path, b"\x89HDF\r\n\x1a\n" + os.urandom(4000))
    return path


def collect_not_utf8(d, env):
    text = os.path.join(d, "bad.txt")
    write(text, b"\xff\xfe bad")
    return ["--model", env["pre"], "--text", text, "--out", os.path.join(d, "acts.h5"), "--device", "cpu"], text


def collect_out_parent_is_file(d, env):
    out = os.path.join(env["text"], "acts.h5")
    return ["--model", env["pre"], "--text", env["text"], "--out", out, "--device", "cpu"], out


def store_command(missing):
    def run(d, env):
        store = os.path.join(d, "none.h5") if missing else garbage_store(d)
        return ["--acts", store, "--out", os.path.join(d, "out"), "--device", "cpu"], store
    return run


def eval_predictors_missing(d, env):
    p = os.path.join(d, "no_predictors")
    return ["--model", env["pre"], "--text", env["text"], "--out", os.path.join(d, "e"), "--device", "cpu",
            "--predictors", p, "--max-tokens", "32"], p


def store_copy(d, env, edit):
    """A copy of the valid activation store, changed by edit(path) (which may need h5py)."""
    path = os.path.join(d, "acts.h5")
    shutil.copyfile(env["artifact"]("store"), path)
    edit(path)
    return path


def h5_edit(fn):
    def edit(path):
        import h5py  # only these cases need it
        with h5py.File(path, "r+") as f:
            fn(f)
    return edit


def store_case(edit, sub_args=("--device", "cpu")):
    def run(d, env):
        store = store_copy(d, env, edit)
        return ["--acts", store, "--out", os.path.join(d, "out")] + list(sub_args), store
    return run


def predictors_copy(d, env, edit):
    """A copy of the valid predictor directory whose predictors.safetensors edit(path) changes."""
    pred = os.path.join(d, "pred")
    shutil.copytree(env["artifact"]("predictors"), pred)
    path = os.path.join(pred, "predictors.safetensors")
    edit(path)
    return pred, path


def eval_argv(d, env, model, pred):
    return ["--model", model, "--text", env["text"], "--out", os.path.join(d, "e"), "--device", "cpu",
            "--predictors", pred, "--max-tokens", "32", "--modes", "predicted"]


def predictors_case(edit):
    def run(d, env):
        pred, path = predictors_copy(d, env, edit)
        return eval_argv(d, env, env["pre"], pred), path
    return run


def reshape_first(prefix):
    """Gives the first tensor named prefix* shape [2a, b/2] instead of [a, b]: same bytes, wrong dimensions."""
    def fn(h):
        k = sorted(k for k in h if k.startswith(prefix))[0]
        a, b = h[k]["shape"]
        h[k]["shape"] = [2 * a, b // 2]
    return fn


def predictors_other_model(d, env):
    """Predictors trained for the 3-layer model, run with a 2-layer one (same widths)."""
    pred, path = predictors_copy(d, env, lambda p: None)
    m = copy_model(env["pre"], d)
    edit_json(os.path.join(m, "config.json"), lambda j: j.update(num_hidden_layers=2))
    return eval_argv(d, env, m, pred), path


def gpu_visible():
    """--engine cuda is an error case only where no GPU is visible (CPU CI); on a GPU machine it would run."""
    try:
        return subprocess.run(["nvidia-smi", "-L"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def engine_cases():
    """The engine-interface options: bad values, and --engine cuda where no GPU is visible."""
    cases = [
        ("engine_unknown", "perplexity", option_case("--engine", "tpu", names="tpu")),
        ("sparse_without_source", "perplexity", option_case("--sparse", names="--sparse")),
        ("oracle_without_sparse", "perplexity", option_case("--oracle", names="--sparse")),
        ("sparse_predictors_and_oracle", "perplexity",
         option_case("--sparse", "--oracle", "--predictors", "x", names="--oracle")),
        ("mlp_density_above_one", "perplexity", option_case("--sparse", "--oracle", "--mlp-density", "1.5", names="1.5")),
        ("dense_layer_outside_model", "perplexity",
         option_case("--sparse", "--oracle", "--dense-layers", "7", names="--dense-layers")),
        ("compare_reference_needs_cuda", "perplexity", option_case("--compare-reference", names="--engine cuda")),
        ("eval_engine_unknown", "eval",
         lambda d, env: (["--model", env["pre"], "--text", env["text"], "--out", os.path.join(d, "e"),
                          "--engine", "tpu"], "tpu")),
        ("run_experiment_bad_engine", "run",
         experiment_case("model: @MODEL@\nstages: [eval]\neval:\n  text: @TEXT@\n  engine: tpu\n")),
    ]
    if not gpu_visible():
        cases += [
            ("perplexity_engine_cuda_without_gpu", "perplexity", option_case("--engine", "cuda", names="cuda")),
            ("generate_engine_cuda_without_gpu", "generate",
             lambda d, env: (generate_argv(env["pre"], env) + ["--engine", "cuda"], "cuda")),
            ("eval_engine_cuda_without_gpu", "eval",
             lambda d, env: (["--model", env["pre"], "--text", env["text"], "--out", os.path.join(d, "e"),
                              "--engine", "cuda"], "cuda")),
        ]
    return cases


CASES = [
    # safetensors shards
    ("truncated_shard", "perplexity", shard_case(lambda p: truncate(p, lambda n: n // 2))),
    ("shard_shorter_than_length_prefix", "perplexity", shard_case(lambda p: truncate(p, lambda n: 5))),
    ("empty_shard", "perplexity", shard_case(lambda p: truncate(p, lambda n: 0))),
    ("header_length_beyond_file", "perplexity", shard_case(set_length(lambda size: size + 100))),
    ("header_length_huge", "perplexity", shard_case(set_length(lambda size: 2**63 + 5))),
    ("header_not_json", "perplexity",
     shard_case(lambda p: write(p, struct.pack("<Q", 16) + b"{not json at all" + b"\0" * 64))),
    ("header_not_object", "perplexity", shard_case(lambda p: write(p, struct.pack("<Q", 8) + b"[1,2,3] "))),
    ("overlapping_offsets", "perplexity", header_case(overlap)),
    ("offsets_out_of_range", "perplexity", header_case(out_of_range)),
    ("offsets_begin_after_end", "perplexity", header_case(begin_after_end)),
    ("negative_offset", "perplexity", header_case(set_field("layers.0.fc1.bias", "data_offsets", [-4, 0]))),
    ("unknown_dtype", "perplexity", header_case(set_field("layers.0.fc1.weight", "dtype", "F8_E4M3"))),
    ("integer_dtype_weight", "perplexity", header_case(set_field("layers.0.fc1.weight", "dtype", "I32"))),
    ("shape_bytes_mismatch", "perplexity", header_case(set_field("layers.0.fc2.bias", "shape", [65]))),
    ("wrong_tensor_shape", "perplexity", header_case(set_field("layers.0.fc1.weight", "shape", [64, 256]))),
    ("shape_not_list", "perplexity", header_case(set_field("layers.0.fc2.bias", "shape", "64"))),
    ("missing_tensor", "perplexity", model_case(missing_tensor)),  # named against the checkpoint directory
    ("no_weights_at_all", "perplexity", model_case(no_weights)),
    # config.json
    ("config_not_json", "perplexity", config_case("{\"vocab_size\": 50272,")),
    ("config_is_a_list", "perplexity", config_case("[1, 2]")),
    ("config_wrong_type", "perplexity", config_case(lambda j: j.update(hidden_size="64"))),
    ("config_missing_field", "perplexity", config_case(lambda j: j.pop("num_attention_heads"))),
    ("config_heads_not_dividing_d", "perplexity", config_case(lambda j: j.update(num_attention_heads=5))),
    ("config_activation_gelu", "perplexity", config_case(lambda j: j.update(activation_function="gelu"))),
    ("config_negative_size", "perplexity", config_case(lambda j: j.update(ffn_dim=-1))),
    ("config_absurd_layers", "perplexity", config_case(lambda j: j.update(num_hidden_layers=10**12))),
    ("config_bool_as_string", "perplexity", config_case(lambda j: j.update(do_layer_norm_before="true"))),
    ("config_model_type_gpt2", "perplexity", config_case(lambda j: j.update(model_type="gpt2"))),
    ("config_missing", "perplexity", model_case(config_missing)),
    ("config_more_layers_than_weights", "perplexity", model_case(more_layers_than_weights)),
    # sharded checkpoints: model.safetensors.index.json
    ("index_names_missing_shard", "perplexity",
     index_case(lambda j: j["weight_map"].update({"model.decoder.extra": "model-00009-of-00009.safetensors"}))),
    ("index_not_json", "perplexity", index_case("{\"weight_map\": {")),
    ("index_weight_map_not_object", "perplexity", index_case(lambda j: j.update(weight_map=["a"]))),
    ("index_weight_map_empty", "perplexity", index_case(lambda j: j.update(weight_map={}))),
    ("index_path_escape", "perplexity", index_case(lambda j: j["weight_map"].update({"x": "../../etc/passwd"}))),
    # found by fuzz_checkpoint_index: a name too long for the OS made std::filesystem throw past the loader
    ("index_shard_name_too_long", "perplexity", index_case(lambda j: j["weight_map"].update({"x": "m" * 300}))),
    ("index_shard_name_control_char", "perplexity",
     index_case(lambda j: j["weight_map"].update({"x": "model.safetensors\u0000.x"}))),
    ("index_shard_deleted", "perplexity", model_case(shard_deleted, source="sharded")),
    ("index_shard_truncated", "perplexity", model_case(shard_truncated, source="sharded")),
    # tokenizer files
    ("vocab_missing", "perplexity", tokenizer_case("vocab.json", None)),
    ("vocab_not_json", "perplexity", tokenizer_case("vocab.json", "{\"a\": 1,")),
    ("vocab_bad_id", "perplexity", tokenizer_case("vocab.json", json.dumps({"a": "one", "b": 2}))),
    ("vocab_not_object", "perplexity", tokenizer_case("vocab.json", "[\"a\", \"b\"]")),
    ("merges_bad_line", "perplexity", tokenizer_case("merges.txt", append_line("a b c\n"))),
    ("merges_unknown_token", "perplexity", tokenizer_case("merges.txt", append_line("qzqz xqxq\n"))),
    ("merges_missing", "perplexity", tokenizer_case("merges.txt", None)),
    ("tokenizer_config_bad_token", "perplexity", tokenizer_case("tokenizer_config.json", json.dumps({"bos_token": 5}))),
    # text files
    ("text_empty", "perplexity", text_case("")),
    ("text_not_utf8", "perplexity", text_case(b"caf\xe9 au lait\n" * 10)),
    ("text_truncated_utf8", "perplexity", text_case("na\u00efve ".encode() * 10 + b"\xc3")),
    ("text_missing", "perplexity", text_case(None)),
    ("text_is_directory", "perplexity", text_case("dir")),
    # options: the error names the offending value
    ("bad_dtype", "perplexity", option_case("--dtype", "float8", names="float8")),
    ("bad_device", "perplexity", option_case("--device", "tpu", names="tpu")),
    ("seq_len_too_large", "perplexity", option_case("--seq-len", "100000", names="100000")),
    ("seq_len_negative", "perplexity", option_case("--seq-len", "-5", names="-5")),
    ("seq_len_not_a_number", "perplexity", option_case("--seq-len", "ten", names="ten")),
    ("model_dir_missing", "perplexity",
     lambda d, env: (ppl(os.path.join(d, "no_such_model"), env["text"]), os.path.join(d, "no_such_model"))),
    ("model_is_a_file", "perplexity", lambda d, env: (ppl(env["text"], env["text"]), env["text"])),
    # generate loads the same files
    ("generate_truncated_shard", "generate", model_case(generate_truncated, argv=generate_argv)),
    ("generate_bad_config", "generate", model_case(generate_bad_config, argv=generate_argv)),
    # pipeline stages (skipped while this build lacks them)
    ("collect_text_not_utf8", "collect", collect_not_utf8),
    ("collect_out_parent_is_file", "collect", collect_out_parent_is_file),
    ("train_store_missing", "train", store_command(missing=True)),
    ("train_store_garbage", "train", store_command(missing=False)),
    ("measure_store_garbage", "measure", store_command(missing=False)),
    ("eval_predictors_missing", "eval", eval_predictors_missing),
    # activation stores (HDF5) and predictor files made by the pipeline itself, then damaged
    ("store_truncated", "train", store_case(lambda p: truncate(p, lambda n: n // 2))),
    ("store_wrong_format_version", "train", store_case(h5_edit(lambda f: f.attrs.modify("format_version", 99)))),
    ("store_missing_dataset", "train", store_case(h5_edit(lambda f: f.__delitem__("layer_001/mlp_input")))),
    ("store_incomplete", "measure", store_case(h5_edit(lambda f: f.attrs.modify("complete", 0)))),
    ("predictors_truncated", "eval", predictors_case(lambda p: truncate(p, lambda n: n - 512))),
    ("predictors_wrong_shape", "eval", predictors_case(lambda p: edit_header(p, reshape_first("mlp.1.w1")))),
    ("predictors_for_other_model", "eval", predictors_other_model),
    ("run_experiment_missing", "run", lambda d, env: ([os.path.join(d, "none.yaml")], os.path.join(d, "none.yaml"))),
    ("run_experiment_not_yaml", "run", experiment_case("model: [unclosed\n  - {a: b\n")),
    ("run_experiment_unknown_key", "run", experiment_case("model: @MODEL@\ncolect:\n  text: @TEXT@\n")),
    ("run_experiment_wrong_type", "run",
     experiment_case("model: @MODEL@\nstages: [measure]\nmeasure:\n  mlp_thresholds: high\n")),
    ("run_experiment_empty_sweep", "run",
     experiment_case("model: @MODEL@\nstages: [eval]\neval:\n  text: @TEXT@\n  mlp_densities: []\n")),
    ("run_experiment_text_missing", "run",
     experiment_case("model: @MODEL@\nstages: [eval]\neval:\n  text: /nonexistent/test.txt\n")),
] + engine_cases() + [
    # dejavu tp-balance (tensor-parallel selection balance, CPU)
    ("tp_balance_text_missing", "tp-balance",
     lambda d, env: (["--model", env["pre"], "--text", os.path.join(d, "none.txt"), "--out", os.path.join(d, "o")],
                     os.path.join(d, "none.txt"))),
    ("tp_balance_text_shorter_than_a_window", "tp-balance",
     lambda d, env: (["--model", env["pre"], "--text", env["text"], "--seq-len", "100000", "--out",
                      os.path.join(d, "o")], env["text"])),
    ("tp_balance_density_above_one", "tp-balance",
     lambda d, env: (["--model", env["pre"], "--text", env["text"], "--mlp-density", "1.5", "--out",
                      os.path.join(d, "o")], "1.5")),
]
