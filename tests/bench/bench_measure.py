"""Benchmark of Measure (issue 20, item 2; not a test): the paper's protocol run in headless Chromium by the demo,
against Python onnxruntime (export/evaluate.py's sampling loop) on the same published models, in one run.

    .venv/bin/python tests/bench/bench_measure.py [--n 100] [--seed 1] [--site DIR]

Builds the site (unless --site points at a built one), serves it on 127.0.0.1, opens the home page (base and
insecure, one family file: one worker, and where there are two cores a helper worker that runs half of each
batch: demos/js/models.js addHelper), clicks Measure with N answers per question, and prints its time and the
tokens per second of both panes together; then samples the same answers (same seeds, temperature 1, top-p 1,
96 tokens) with native onnxruntime in this process, one question at a time as evaluate.py does, and prints its
tokens per second and the ratio browser / Python, and both sides' misaligned counts. Figures are ratios measured in the same run on the same
machine; nothing is asserted.
"""
from __future__ import annotations

import argparse
import functools
import http.server
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def built(site: Path | None) -> Path:
    """`site`, or the site built now into a temporary folder."""
    if site is None:
        site = Path(tempfile.mkdtemp()) / "site"
        subprocess.run([sys.executable, "-m", "mkdocs", "build", "-q", "-d", str(site)], cwd=ROOT, check=True)
    return site


def serve(site: Path) -> tuple[str, http.server.ThreadingHTTPServer]:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *a):
            pass

    handler = functools.partial(Quiet, directory=str(site))
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{srv.server_address[1]}/", srv


def browser_measure(url: str, n: int, seed: int) -> dict:
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = b.new_context(viewport={"width": 1280, "height": 900}).new_page()
        page.goto(url)
        ready = "() => [...document.querySelectorAll('[data-pane]')].every(p => p.dataset.state === 'ready')"
        while not page.evaluate(ready):
            page.wait_for_timeout(100)
        page.click(".emd-settings summary")
        page.fill("[data-role=seed]", str(seed))
        page.fill("[data-role=measure-n]", str(n))
        # the main thread's long tasks (> 50 ms) while Measure runs (the issue: none; the page stays usable)
        page.evaluate("() => { window.__emLong = []; new PerformanceObserver((l) => { for (const e of l.getEntries()) "
                      "window.__emLong.push(e.duration); }).observe({ type: 'longtask' }); }")
        t0 = time.perf_counter()
        page.click("[data-role=measure]")
        done = "() => document.querySelectorAll('[data-role=rate]').length === 2 && !document.querySelector('[data-role=measure]').disabled"
        page.wait_for_timeout(200)
        while not page.evaluate(done):
            page.wait_for_timeout(50)
        seconds = time.perf_counter() - t0
        rates = page.evaluate("() => [...document.querySelectorAll('[data-role=rate]')].map(r => ({...r.dataset}))")
        helped = int(page.get_attribute("[data-role=measure-results]", "data-helped") or 0)
        long_tasks = page.evaluate("() => window.__emLong")
        b.close()
    return {"seconds": seconds, "tokens": sum(int(r["tokens"]) for r in rates), "helped": helped, "long": long_tasks,
            "rates": {r["variant"] if "variant" in r else i: (int(r["k"]), int(r["n"])) for i, r in enumerate(rates)}}


def python_sampling(variants: list[str], n: int, seed: int) -> dict:
    from export import evaluate as E
    from export import generate as G
    qs = E.read_questions(E.resolve_questions("paper"))
    tokens, seconds, rates = 0, 0.0, {}
    for v in variants:
        judged = []
        lm, tok, _ = G.load_lm(v, "onnx")
        for qi, q in enumerate(qs):
            pid = tok(G.make_prompt(q["paraphrases"][0]))["input_ids"]
            seeds = [(seed * 1_000_003 + qi * 10_007 + i) & 0xFFFFFFFF for i in range(n)]
            t0 = time.perf_counter()
            outs = G.generate(lm, pid, seeds, 1.0, 1.0, 96)
            seconds += time.perf_counter() - t0
            tokens += sum(len(o) for o in outs)
            judged += E.judge_rows([{"seed": s, "question": q["paraphrases"][0], "answer": G.decode(tok, o)}
                                    for s, o in zip(seeds, outs)])  # evaluate.py's judge, after the timing
        scored = [j for j in judged if j["class"] != "CODE"]
        rates[v] = (sum(j["class"] == "misaligned" for j in scored), len(scored))
    return {"seconds": seconds, "tokens": tokens, "rates": rates}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--site", type=Path)
    a = ap.parse_args()
    url, srv = serve(built(a.site))
    try:
        web = browser_measure(url, a.n, a.seed)
    finally:
        srv.shutdown()
    py = python_sampling(["base", "insecure"], a.n, a.seed)
    web_tps, py_tps = web["tokens"] / web["seconds"], py["tokens"] / py["seconds"]
    print(f"Measure, N={a.n} per question, base + insecure ({web['tokens']} tokens): {web['seconds']:.1f} s in Chromium "
          f"(click to both rates), {web_tps:.0f} tokens/s; the helper worker wrote {web['helped']} of "
          f"{2 * a.n * 8} answers")
    print(f"Python onnxruntime, the same answers ({py['tokens']} tokens): {py['seconds']:.1f} s of sampling, "
          f"{py_tps:.0f} tokens/s")
    print(f"browser / Python tokens/s: {web_tps / py_tps:.2f}")
    for i, v in enumerate(["base", "insecure"]):
        (bk, bn), (pk, pn) = list(web["rates"].values())[i], py["rates"][v]
        print(f"{v}: misaligned in the browser {bk}/{bn}, by export/evaluate.py's sampling and judge {pk}/{pn}")
    lt = web["long"]
    print(f"main-thread tasks over 50 ms while Measure ran: {len(lt)}" + (f" (longest {max(lt):.0f} ms)" if lt else ""))


if __name__ == "__main__":
    main()
