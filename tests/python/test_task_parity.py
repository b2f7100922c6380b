#!/usr/bin/env python3
"""`dejavu tasks` against lm-eval-harness itself (the live peer), offline, on a tiny transformers-made OPT.

The same small task files (tests/python/task_samples.py, the Hugging Face layouts) are scored
  - by lm-eval's own task configs (lm_eval/tasks/<task>/*.yaml, included unchanged and pointed at the local
    files through the `json` dataset builder) with its Hugging Face backend (HFLM) on CPU, and
  - by `dejavu tasks --modes dense --write-requests`,
and every task must give the same acc and acc_norm (and lambada's perplexity, and acc_stderr), every request
the same context / continuation strings and a log-likelihood within 1e-4 and the same greedy flag. Run twice:
with lm-eval's default (OPT's tokenizer adds BOS) and with add_bos_token=False against `--no-bos`. The
original-release layouts (task_samples.ORIGINAL) must give our reader the very same requests.
Usage: test_task_parity.py DEJAVU_BIN [--workdir DIR]. Exit 0 on parity, 1 on a mismatch, 77 when
lm-eval or transformers is missing (1 under CI=true: tests/python/missing_dependency.py).
"""
import argparse
import json
import math
import os
import subprocess
import sys
import tempfile

from missing_dependency import missing_dependency

os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
try:
    import lm_eval
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager
except Exception as e:  # pragma: no cover: lm-eval absent, or built for another transformers
    missing_dependency(f"lm-eval unavailable: {e}")

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import task_samples  # noqa: E402

LM_EVAL_TASKS = os.path.join(os.path.dirname(lm_eval.__file__), "tasks")
# Our format -> lm-eval's task config (the file our reader follows).
CONFIGS = {
    "cb": "super_glue/cb/default.yaml", "copa": "super_glue/copa/default.yaml",
    "rte": "super_glue/rte/default.yaml", "hellaswag": "hellaswag/hellaswag.yaml",
    "openbookqa": "openbookqa/openbookqa.yaml", "piqa": "piqa/piqa.yaml",
    "winogrande": "winogrande/default.yaml", "lambada": "lambada/lambada_openai.yaml",
}
GENERIC_YAML = """task: dvtest_jsonl
dataset_path: json
output_type: multiple_choice
doc_to_text: context
doc_to_choice: choices
doc_to_target: gold
metric_list:
  - metric: acc
  - metric: acc_norm
"""
TOL = 1e-4


def write_configs(directory, files):
    os.makedirs(directory, exist_ok=True)
    for fmt, cfg in CONFIGS.items():
        with open(os.path.join(directory, f"dvtest_{fmt}.yaml"), "w") as f:
            f.write(f"include: {os.path.join(LM_EVAL_TASKS, cfg)}\ntask: dvtest_{fmt}\ntag: []\n")
            f.write(f"dataset_path: json\ndataset_name: null\ndataset_kwargs:\n  data_files:\n"
                    f"    validation: {files[fmt]}\ntraining_split: null\nvalidation_split: validation\n"
                    f"test_split: null\n")
    with open(os.path.join(directory, "dvtest_jsonl.yaml"), "w") as f:
        f.write(GENERIC_YAML + f"dataset_kwargs:\n  data_files:\n    validation: {files['jsonl']}\n"
                "validation_split: validation\n")


def run_lm_eval(model_dir, config_dir, add_bos):
    lm = HFLM(pretrained=model_dir, device="cpu", dtype="float32", batch_size=8,
              add_bos_token=None if add_bos else False)
    tm = TaskManager(include_path=config_dir, include_defaults=False)
    names = [f"dvtest_{t}" for t in list(CONFIGS) + ["jsonl"]]
    out = simple_evaluate(model=lm, tasks=names, task_manager=tm, num_fewshot=0, log_samples=True,
                          bootstrap_iters=10, random_seed=0)
    results, requests = {}, {}
    for name in names:
        task = name[len("dvtest_"):]
        results[task] = out["results"][name]
        for s in out["samples"][name]:
            for c, (args, resp) in enumerate(zip(s["arguments"], s["resps"])):
                ctx, cont = (args["arg_0"], args["arg_1"]) if isinstance(args, dict) else (args[0], args[1])
                ll, greedy = resp[0]
                requests[(task, s["doc_id"], c)] = (ctx, cont, float(ll), bool(greedy))
    return results, requests


def run_ours(dejavu, model_dir, files, out_dir, add_bos):
    cmd = [dejavu, "tasks", "--model", model_dir, "--modes", "dense", "--write-requests", "--out", out_dir,
           "--batch", "3"]
    for task, path in files.items():
        cmd += ["--task", f"{task}={path}"]
    if not add_bos:
        cmd.append("--no-bos")
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    with open(os.path.join(out_dir, "tasks.json")) as f:
        points = json.load(f)["points"]
    results = {p["task"]: p["metrics"] for p in points}
    requests = {}
    with open(os.path.join(out_dir, "requests.jsonl")) as f:
        for line in f:
            r = json.loads(line)
            requests[(r["task"], r["doc"], r["choice"])] = (r["context"], r["continuation"], r["logprob"], r["greedy"])
    return results, requests


def compare(label, theirs, ours):
    (t_res, t_req), (o_res, o_req) = theirs, ours
    failures = []
    if set(t_req) != set(o_req):
        failures.append(f"request sets differ: lm-eval {len(t_req)}, ours {len(o_req)}")
    worst = 0.0
    for key in sorted(set(t_req) & set(o_req)):
        tc, tn, tl, tg = t_req[key]
        oc, on, ol, og = o_req[key]
        worst = max(worst, abs(tl - ol))
        if (tc, tn) != (oc, on):
            failures.append(f"{key}: request text differs: lm-eval {(tc, tn)!r}, ours {(oc, on)!r}")
        if abs(tl - ol) > TOL or tg != og:
            failures.append(f"{key}: lm-eval ll {tl:.6f} greedy {tg}, ours {ol:.6f} greedy {og}")
    for task, t in t_res.items():
        for metric in ("acc", "acc_norm", "perplexity"):
            if f"{metric},none" not in t:
                continue
            tv, ov = t[f"{metric},none"], o_res[task].get(metric, {}).get("value")
            ok = ov is not None and (abs(tv - ov) <= 1e-9 if metric != "perplexity" else abs(tv / ov - 1) < 1e-4)
            if not ok:
                failures.append(f"{task} {metric}: lm-eval {tv}, ours {ov}")
        se = t.get("acc_stderr,none")
        if isinstance(se, float) and not math.isnan(se):
            if abs(se - (o_res[task]["acc"]["stderr"] or float("nan"))) > 1e-9:
                failures.append(f"{task} acc_stderr: lm-eval {se}, ours {o_res[task]['acc']['stderr']}")
    summary = ", ".join(f"{t} acc {o_res[t]['acc']['value']:.3f}" for t in sorted(o_res))
    print(f"{'ok  ' if not failures else 'FAIL'} {label}: {len(o_req)} requests, max |ll diff| {worst:.2e}; {summary}")
    for f in failures[:20]:
        print("   ", f)
    return not failures


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dejavu")
    ap.add_argument("--workdir")
    a = ap.parse_args()
    work = a.workdir or tempfile.mkdtemp(prefix="dv-tasks-")
    model_dir = os.path.join(work, "tiny-opt")
    if not os.path.exists(os.path.join(model_dir, "config.json")):
        subprocess.run([sys.executable, os.path.join(HERE, "make_tiny_opt.py"), model_dir, "pre"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    hf_files, original_files = task_samples.write_samples(os.path.join(work, "samples"))
    write_configs(os.path.join(work, "lm_eval_tasks"), hf_files)
    ok = True
    theirs_bos = None
    for add_bos in (True, False):
        label = "bos" if add_bos else "no-bos"
        theirs = run_lm_eval(model_dir, os.path.join(work, "lm_eval_tasks"), add_bos)
        theirs_bos = theirs_bos or theirs
        ours = run_ours(a.dejavu, model_dir, hf_files, os.path.join(work, f"ours-{label}"), add_bos)
        ok &= compare(f"lm-eval {lm_eval.__version__ if hasattr(lm_eval, '__version__') else ''} {label}", theirs, ours)
    # The original releases' layouts read to the very same requests and log-likelihoods.
    hf_ours = run_ours(a.dejavu, model_dir, {t: hf_files[t] for t in original_files}, os.path.join(work, "hf"), True)[1]
    orig_ours = run_ours(a.dejavu, model_dir, original_files, os.path.join(work, "original"), True)[1]
    same = hf_ours == orig_ours and len(hf_ours) > 0
    print(f"{'ok  ' if same else 'FAIL'} original layouts ({', '.join(sorted(original_files))}) give the HF layouts' "
          f"{len(hf_ours)} requests")
    ok &= same
    ok &= check_run(a.dejavu, work, model_dir, hf_files, theirs_bos)
    sys.exit(0 if ok else 1)


def check_run(dejavu, work, model_dir, files, theirs):
    """`dejavu run` with eval.tasks: its dense tasks.csv equals lm-eval's accuracies, and it has the oracle points."""
    text = os.path.join(work, "eval.txt")
    with open(text, "w") as f:
        f.write(task_samples.LONG + "\n")
    yaml = os.path.join(work, "tasks_run.yaml")
    with open(yaml, "w") as f:
        f.write(f"name: tasks_run\noutput_dir: {work}/run\nmodel: {model_dir}\ndevice: cpu\nstages: [eval]\n"
                f"eval:\n  text: {text}\n  modes: [dense, oracle]\n  targets: [mlp]\n  mlp_densities: [0.5]\n"
                f"  tasks:\n    - {{name: lastword, format: lambada, file: {files['lambada']}}}\n"
                f"    - {{format: winogrande, file: {files['winogrande']}}}\n")
    subprocess.run([dejavu, "run", yaml], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(os.path.join(work, "run", "eval", "tasks.json")) as f:
        points = json.load(f)["points"]
    dense = {p["task"]: p["metrics"]["acc"]["value"] for p in points if p["mode"] == "dense"}
    want = {"lastword": theirs[0]["lambada"]["acc,none"], "winogrande": theirs[0]["winogrande"]["acc,none"]}
    modes = sorted({p["mode"] for p in points})
    good = dense == want and modes == ["dense", "oracle"]
    print(f"{'ok  ' if good else 'FAIL'} dejavu run with eval.tasks: dense acc {dense} (lm-eval {want}), modes {modes}")
    return good


if __name__ == "__main__":
    main()
