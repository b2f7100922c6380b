#!/usr/bin/env python3
"""The documentation of the layout cannot drift from the tree: the README's layout table names every folder of
kernels/ (as one row), engine/ and pipeline/ and every top-level folder, and names nothing that is gone; every
pipeline/ folder has a README saying what it reads, what it writes, its YAML, and its tests, and those test
folders exist; every stage folder has its command file and its tests/<stage>/ twin.
Usage: test_layout_docs.py [REPO_ROOT]
"""
import os
import re
import sys

ROOT = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STAGES = ["collect", "train", "measure", "eval", "tasks", "bench", "report"]
# Top-level entries that are not the project's folders (build outputs, tool state).
IGNORED_TOP = {"build", "runs", "__pycache__"}


def layout_rows():
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    table = text[text.index("| folder | what |"):]
    table = table[:table.index("\n\n")]
    return [m.group(1).rstrip("/") for m in re.finditer(r"^\| `([^`]+)` \|", table, re.M)]


def subfolders(path):
    full = os.path.join(ROOT, path)
    return sorted(d for d in os.listdir(full) if os.path.isdir(os.path.join(full, d)) and not d.startswith((".", "_")))


def main():
    errors = []
    rows = layout_rows()
    for row in rows:
        if not os.path.isdir(os.path.join(ROOT, row)):
            errors.append(f"README layout table names {row}/, which does not exist")
    top = [d for d in subfolders(".") if d not in IGNORED_TOP and not d.startswith("build")]
    for d in top:
        if d not in rows and not any(r.startswith(d + "/") for r in rows):
            errors.append(f"README layout table has no row for {d}/")
    for parent in ["engine", "pipeline"]:
        for d in subfolders(parent):
            if f"{parent}/{d}" not in rows:
                errors.append(f"README layout table has no row for {parent}/{d}/")
    for d in subfolders("pipeline"):
        readme = os.path.join(ROOT, "pipeline", d, "README.md")
        if not os.path.isfile(readme):
            errors.append(f"pipeline/{d}/ has no README.md")
            continue
        text = open(readme, encoding="utf-8").read()
        if not re.search(r"^Tests?:", text, re.M) and "- Tests:" not in text:
            errors.append(f"pipeline/{d}/README.md does not say where its tests are (a 'Tests:' line)")
        for t in re.findall(r"`(tests/[a-z_]+)/", text):
            if not os.path.isdir(os.path.join(ROOT, t)):
                errors.append(f"pipeline/{d}/README.md names {t}/, which does not exist")
    for s in STAGES:
        folder = os.path.join(ROOT, "pipeline", s)
        if not os.path.isdir(folder):
            errors.append(f"stage {s}: no pipeline/{s}/")
            continue
        text = open(os.path.join(folder, "README.md"), encoding="utf-8").read() if os.path.isfile(
            os.path.join(folder, "README.md")) else ""
        for key in ["**Reads**", "**Writes**", "YAML"]:
            if key not in text:
                errors.append(f"pipeline/{s}/README.md does not say {key}")
        if not os.path.isfile(os.path.join(folder, f"cmd_{s}.cpp")):
            errors.append(f"stage {s}: no pipeline/{s}/cmd_{s}.cpp")
        if not os.path.isdir(os.path.join(ROOT, "tests", s)):
            errors.append(f"stage {s}: no tests/{s}/")
    for e in errors:
        print("FAIL:", e)
    print(f"layout docs: {len(rows)} table rows, {len(STAGES)} stages checked, {len(errors)} problems")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
