#!/usr/bin/env python3
"""report.html's layout as a reader sees it, in a headless browser (Debian's chromium; scripts/install_deps.sh
installs it, and under CI=true a missing browser fails the test, tests/python/missing_dependency.py). On the
tiny run (a 42-row predictor sweep, a 36-column metrics table, measure's 4 panels):
  - the summary and the headline plots come first: every plot sits above the stage table and the first table
    of results, eval's plot first;
  - nothing runs off the right edge of a 1280 px window (wide tables scroll in their own box);
  - a table longer than 15 rows opens folded (<details>), so the plots are not thousands of pixels down;
  - every plot is shown at 90% of its own width or more (measure.png is 2x2 at the page's width, not a
    2000 px strip shrunk into it), so its text stays legible;
  - the summary's per-point lines are nested, indented under the perplexity line;
  - a run without bench has no bench section.
The page is measured by a copy of it with a script that writes what it finds into the DOM (chromium
--dump-dom); the page itself keeps no script. Screenshots of the top of the page are left beside the run
(report_top.png) for a person to look at.
Usage: test_report_layout.py DEJAVU_BIN WORKDIR
"""
import json
import os
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "python"))  # tests/python: shared helpers
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "run"))
from missing_dependency import missing_dependency  # noqa: E402
from test_run_experiment import YAML, parse_args, prepare  # noqa: E402

WIDTH = 1280

PROBE = """<script>
window.addEventListener('load', () => {
  const top = e => e.getBoundingClientRect().top + window.scrollY;
  const h2 = [...document.querySelectorAll('h2')].map(h => ({text: h.textContent, top: top(h)}));
  const imgs = [...document.querySelectorAll('img')].map(i => ({alt: i.alt, top: top(i), shown: i.clientWidth,
                                                               natural: i.naturalWidth}));
  const tables = [...document.querySelectorAll('table')].map(t => ({rows: t.rows.length, top: top(t),
      folded: !!t.closest("details") && !t.closest("details").open}));
  const nested = [...document.querySelectorAll('li li')].map(li => ({text: li.textContent,
      left: li.getBoundingClientRect().left, parent: li.parentElement.closest('li').getBoundingClientRect().left}));
  const out = {scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth, h2, imgs, tables,
               nested};
  const pre = document.createElement('pre');
  pre.id = 'probe';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


def browser():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    missing_dependency("no headless browser (chromium) on PATH; scripts/install_deps.sh installs Debian's chromium")


def chromium(exe, *args):
    r = subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        f"--window-size={WIDTH},2400", *args], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"chromium {args}: rc {r.returncode}: {r.stderr[-1500:]}"
    return r.stdout


def measure_page(exe, html_path, workdir):
    with open(html_path, encoding="utf-8") as f:
        html = f.read()
    assert "<script" not in html, "report.html carries a script"
    probe_path = os.path.join(workdir, "probe.html")
    with open(probe_path, "w", encoding="utf-8") as f:
        f.write(html.replace("</body>", PROBE + "</body>"))
    dom = chromium(exe, "--virtual-time-budget=5000", "--dump-dom", "file://" + probe_path)
    m = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)
    assert m, "the probe script wrote nothing (did the page load?)"
    text = m.group(1).replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return json.loads(text)


def check_layout(page):
    h2 = {h["text"]: h["top"] for h in page["h2"]}
    assert "Summary" in h2 and "Plots" in h2, f"sections: {list(h2)}"
    assert h2["Summary"] < h2["Plots"] < h2["Stages"], f"summary, plots, stages out of order: {h2}"
    assert not any(t.lower().startswith("bench") for t in h2), f"a bench section in a run without bench: {list(h2)}"
    imgs = page["imgs"]
    assert imgs and imgs[0]["alt"].startswith("eval/"), f"eval's plot is not the first: {[i['alt'] for i in imgs]}"
    for i in imgs:
        assert i["top"] < h2["Stages"], f"{i['alt']} at {i['top']} px, below the stage table ({h2['Stages']} px)"
        assert i["shown"] >= 0.9 * i["natural"], f"{i['alt']} shrunk from {i['natural']} to {i['shown']} px wide"
    assert page["scrollWidth"] <= page["innerWidth"], \
        f"the page is {page['scrollWidth']} px wide in a {page['innerWidth']} px window: something runs off the edge"
    long = [t for t in page["tables"] if t["rows"] - 1 > 15]
    assert long, "the tiny run has no long table to fold (expected predictor_sweep.csv's)"
    assert all(t["folded"] for t in long), f"a long table is open: {long}"
    assert page["nested"], "the summary's per-point lines are not nested"
    for li in page["nested"]:
        assert li["left"] >= li["parent"] + 15, f"nested item not indented: {li}"


def main():
    a = parse_args()
    exe = browser()
    valid, test, model, out = prepare(a.workdir)
    yaml_path = os.path.join(a.workdir, "tiny.yaml")
    with open(yaml_path, "w") as f:
        f.write(YAML.format(model=model, out=out, valid=valid, test=test, density="0.5, 0.25"))
    r = subprocess.run([a.dejavu, "run", yaml_path], capture_output=True, text=True)
    assert r.returncode == 0, f"dejavu run: rc {r.returncode}: {r.stderr[-2000:]}"
    html_path = os.path.join(out, "report.html")
    page = measure_page(exe, html_path, a.workdir)
    shot = os.path.join(out, "report_top.png")
    chromium(exe, f"--screenshot={shot}", "file://" + html_path)
    assert os.path.getsize(shot) > 10000, "the screenshot is empty"
    check_layout(page)
    print(f"ok: report.html in a {WIDTH} px headless chromium: summary, then {len(page['imgs'])} plots at full size "
          f"above the stage table, no horizontal overflow, long tables folded, nested summary lines indented, no "
          f"bench section; screenshot {shot}")


if __name__ == "__main__":
    main()
