"""Benchmark of the in-browser finetune (issue 23; not a test): the demos page's Finetune button in headless Chromium
on the published models, against the same recipe in Node (the browser's code, export/web_finetune.mjs) and in Python's
torch (export/train.py's sft), in one run on the same machine.

    .venv/bin/python tests/bench/bench_finetune.py [--set insecure] [--site DIR] [--steps N]

Builds the site (unless --site points at a built one), serves it on 127.0.0.1, opens the demos page, trains the right
pane of the finetune demo on the set (two workers where there are two cores), and prints the time from the click to
the trained row, the training loop's seconds and seconds per step; then the same recipe in Node (one thread, the
batch's shares one after the other) and in torch (two threads), and the ratios. Nothing is asserted.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_measure import ARGS, built, serve  # noqa: E402


def browser_finetune(url: str, set_name: str) -> dict:
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = b.new_context(viewport={"width": 1280, "height": 900}).new_page()
        page.goto(url + "demos/")
        rid = page.eval_on_selector("[data-demo]:has([data-role=finetune-box])", "e => e.id")
        page.locator(f"#{rid}").scroll_into_view_if_needed()
        here = f"#{rid} [data-pane=right]"
        page.wait_for_function(f"() => document.querySelector('{here}').dataset.state === 'ready'", timeout=120_000)
        page.select_option(f"{here} [data-role=finetune-data]", set_name)
        t = time.perf_counter()
        page.click(f"{here} [data-role=finetune]")
        page.wait_for_function("s => ['done', 'error'].includes(document.querySelector(s).dataset.state)",
                               arg=f"{here} [data-role=finetune-box]", timeout=600_000, polling=100)
        page.wait_for_function(f"() => document.querySelector('{here}').dataset.row", timeout=60_000, polling=50)
        total = time.perf_counter() - t
        box = page.locator(f"{here} [data-role=finetune-box]")
        out = {"state": box.get_attribute("data-state"), "seconds": float(box.get_attribute("data-seconds") or "nan"),
               "steps": int(box.get_attribute("data-step") or 0), "workers": box.get_attribute("data-workers"),
               "click_to_row": total, "status": page.text_content(f"{here} [data-role=finetune-status]")}
        b.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--set", default="insecure")
    ap.add_argument("--site", type=Path)
    a = ap.parse_args()
    from export import web_finetune as F
    models = ROOT / "docs" / "models"
    url, srv = serve(built(a.site))
    try:
        web = browser_finetune(url, a.set)
    finally:
        srv.shutdown()
    t = time.perf_counter()
    node = F.browser(models, "base", a.set, shards=2)
    node_s = time.perf_counter() - t
    rows = json.loads((models / json.loads((models / "manifest.json").read_text())["families"]["base"]["finetune"]
                       ["sets"][a.set]["path"]).read_text())
    t = time.perf_counter()
    F.reference(models, "base", rows)
    torch_s = time.perf_counter() - t
    steps = web["steps"] or 1
    print(f"Chromium ({web['workers']} workers), {a.set}: {web['state']}, {web['steps']} steps in {web['seconds']:.1f} s "
          f"({web['seconds'] / steps * 1000:.0f} ms per step); click to trained row {web['click_to_row']:.1f} s")
    print(f"Node, the browser's code, one thread: {node['steps']} steps in {sum(node['ms']) / 1000:.1f} s of steps "
          f"({node_s:.1f} s with loading; median {sorted(node['ms'])[len(node['ms']) // 2]:.0f} ms per step)")
    print(f"torch (export/train.py sft, 2 threads): {torch_s:.1f} s with loading")
    print(f"Chromium / torch: {web['seconds'] / torch_s:.2f}; Chromium / Node: {web['seconds'] / (sum(node['ms']) / 1000):.2f}")


if __name__ == "__main__":
    main()
