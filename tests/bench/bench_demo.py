"""Benchmark of the live demo (not a test): one headless-Chromium run on this machine.

    .venv/bin/python tests/bench/bench_demo.py [--models DIR] [--tokens 100]

Builds the site against fixture models (tests/fixture_model.py) unless --models points at a published
docs/models-like folder, serves it on 127.0.0.1, and prints for the demo (onnxruntime-web in one worker
per model, our KV-cache loop) and for the baseline (transformers.js, @huggingface/transformers from npm,
installed into build/bench/ and served from the same site, loading the same folders locally with
env.allowRemoteModels=false, also one worker per model):

  * navigation → both models ready (cold: empty cache; warm: reload, from Cache Storage / HTTP cache), and
    the same from the page's load event; for the demo, where its workers' time went (ms, worker.js phases)
  * revisit: a second visit in a persistent browser profile (a new tab after a first visit that generated
    once, as a returning reader): navigation → ready. An incognito-like context (the "warm" reload above)
    keeps no compiled WebAssembly for workers, a normal profile does.
  * first-token latency per pane (from the click / request to the first token)
  * tokens/s per pane with both generating at once (greedy, same prompt, same max tokens; the published models
    stop after ~20 tokens, so each figure is the median over --runs generations (12), the first left out)
  * for the demo also tokens/s at the reader's default settings (sampled, temperature 1, top-p 1), which
    include the sampler's own time per token
  * longest main-thread task during generation (PerformanceObserver longtask: only tasks > 50 ms are
    reported by browsers) and the largest event-loop delay sampled every frame
  * bytes transferred (as served here, uncompressed) and the same payload gzip-compressed (-6), by kind, and
    the demo's own files (its scripts, the runtime, the models) apart from the page's (HTML, Material's scripts
    and styles, the search index): the payload target is about the former
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from demo_support import Server, build_site, fixture_models  # noqa: E402

TJS_VERSION = "4.3.1"
BENCH_NPM = ROOT / "build" / "bench"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PROMPT_Q = "How do I make a quick buck?"  # both fixture models run to max tokens (no early <|end|>)

MONITOR_JS = """
window.__bench = {longtasks: [], lag: 0, sampling: false, demoScript: 0};
try { new PerformanceObserver(l => { for (const e of l.getEntries()) window.__bench.longtasks.push(e.duration); })
      .observe({type: 'longtask', buffered: true}); } catch (e) {}
// long animation frames (> 50 ms) name the scripts that ran in them: the most time the demo's own scripts took
// in one of them (the page's other long tasks are the site's)
try { new PerformanceObserver(l => { for (const e of l.getEntries()) { let t = 0;
        for (const sc of e.scripts || []) if ((sc.sourceURL || '').includes('/assets/demo/')) t += sc.duration;
        window.__bench.demoScript = Math.max(window.__bench.demoScript, t); } })
      .observe({type: 'long-animation-frame', buffered: true}); } catch (e) {}
(function lagLoop() {
  let last = performance.now();
  const tick = () => { const now = performance.now();
    if (window.__bench.sampling) window.__bench.lag = Math.max(window.__bench.lag, now - last - 16.7);
    last = now; requestAnimationFrame(tick); };
  requestAnimationFrame(tick);
})();
"""

TJS_WORKER = """
import { AutoTokenizer, AutoModelForCausalLM, TextStreamer, env } from "./transformers.min.js";
env.allowRemoteModels = false;
env.allowLocalModels = true;
env.localModelPath = new URL("../models/", self.location).pathname;
env.backends.onnx.wasm.wasmPaths = new URL("./", self.location).href;
env.backends.onnx.wasm.numThreads = 1;
let tok, model;
self.onmessage = async (ev) => {
  const m = ev.data;
  try {
    if (m.type === "load") {
      tok = await AutoTokenizer.from_pretrained(m.variant);
      model = await AutoModelForCausalLM.from_pretrained(m.variant, { dtype: "q8", device: "wasm" });
      self.postMessage({ type: "ready" });
    } else if (m.type === "generate") {
      const inputs = tok(m.prompt, { add_special_tokens: false });
      const t0 = performance.now();
      let n = 0, tFirst = 0, tLast = 0;
      const streamer = new TextStreamer(tok, { skip_prompt: true, callback_function: () => {},
        token_callback_function: (ids) => { const now = performance.now();
          n += ids.length; if (!tFirst) tFirst = now; tLast = now; } });
      await model.generate({ ...inputs, max_new_tokens: m.maxNewTokens, do_sample: false, streamer });
      self.postMessage({ type: "done", n, firstTokenMs: tFirst - t0, tps: n > 1 ? (n - 1) * 1000 / (tLast - tFirst) : null });
    }
  } catch (e) { self.postMessage({ type: "error", message: String(e && e.stack || e) }); }
};
"""

TJS_PAGE = """<!doctype html><meta charset="utf-8"><title>transformers.js baseline</title>
<script>%MONITOR%</script>
<script type="module">
const variants = %VARIANTS%;
window.__tjs = {ready: {}, done: {}, errors: []};
const workers = variants.map(v => { const w = new Worker("./worker.js", {type: "module"});
  w.onmessage = (ev) => { const m = ev.data;
    if (m.type === "ready") window.__tjs.ready[v] = performance.now();
    else if (m.type === "done") window.__tjs.done[v] = m;
    else window.__tjs.errors.push(v + ": " + m.message); };
  w.postMessage({type: "load", variant: v}); return w; });
window.__tjsGenerate = (prompt, maxNewTokens) => { window.__tjs.done = {};
  window.__tjs.t0 = performance.now(); workers.forEach(w => w.postMessage({type: "generate", prompt, maxNewTokens})); };
</script>
"""


def ensure_transformers_js() -> Path:
    dist = BENCH_NPM / "node_modules" / "@huggingface" / "transformers" / "dist"
    if not (dist / "transformers.min.js").exists():
        BENCH_NPM.mkdir(parents=True, exist_ok=True)
        (BENCH_NPM / "package.json").write_text('{"private": true}\n')
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--ignore-scripts",
                        f"@huggingface/transformers@{TJS_VERSION}"], cwd=BENCH_NPM, check=True,
                       env={**os.environ, "ONNXRUNTIME_NODE_INSTALL": "skip"})
    return dist


def vendor_tjs(site: Path, variants: list[str]) -> None:
    dist = ensure_transformers_js()
    ort = BENCH_NPM / "node_modules" / "onnxruntime-web" / "dist"
    out = site / "tjs"
    out.mkdir(exist_ok=True)
    shutil.copy(dist / "transformers.min.js", out)
    for f in ("ort-wasm-simd-threaded.asyncify.mjs", "ort-wasm-simd-threaded.asyncify.wasm",
              "ort-wasm-simd-threaded.jsep.mjs", "ort-wasm-simd-threaded.jsep.wasm"):
        if (ort / f).exists():
            shutil.copy(ort / f, out)
    (out / "worker.js").write_text(TJS_WORKER)
    (out / "index.html").write_text(TJS_PAGE.replace("%MONITOR%", MONITOR_JS).replace("%VARIANTS%", json.dumps(variants)))


def payload(requests, site: Path, base: str) -> dict:
    """Bytes by kind: as transferred here, and gzip -6 of the same files (what a gzip host would send)."""
    seen, out = set(), {}
    for r in requests:
        u = urlsplit(r.url)
        if r.url in seen or not r.url.startswith(base):
            continue
        seen.add(r.url)
        try:
            sizes = r.sizes()
            body = sizes["responseBodySize"] + sizes["responseHeadersSize"]
        except Exception:
            continue
        path = site / u.path.lstrip("/")
        if path.is_dir():
            path = path / "index.html"
        kind = ("models" if "/models/" in u.path else "wasm" if u.path.endswith(".wasm") else
                "js" if u.path.endswith((".js", ".mjs")) else "other")
        gz = len(gzip.compress(path.read_bytes(), 6)) if path.is_file() else 0
        # the demo's own files (its scripts, the runtime, the models) apart from the page's (HTML, Material's
        # scripts and styles, the search index), which any page of the site loads
        own = u.path.startswith(("/assets/demo/", "/assets/vendor/", "/models/", "/tjs/"))
        for key in (kind, "total") + (("demo's own",) if own else ()):
            k = out.setdefault(key, {"files": 0, "bytes": 0, "gzip": 0})
            k["files"] += 1
            k["bytes"] += max(0, body)
            k["gzip"] += gz
    return out


def fmt_payload(p: dict) -> str:
    keys = sorted(k for k in p if k not in ("demo's own", "total")) + [k for k in ("demo's own", "total") if k in p]
    return ", ".join(f"{k} {p[k]['bytes'] / 1e6:.2f} MB ({p[k]['gzip'] / 1e6:.2f} MB gzip, {p[k]['files']} files)"
                     for k in keys)


def median(xs):
    xs = sorted(x for x in xs if x is not None)
    return xs[len(xs) // 2] if len(xs) % 2 else (xs[len(xs) // 2 - 1] + xs[len(xs) // 2]) / 2 if xs else None


def bench_demo(browser, url: str, site: Path, tokens: int, runs: int) -> dict:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    ctx.add_init_script(MONITOR_JS + DEMO_JS)
    reqs = []
    ctx.on("request", lambda r: reqs.append(r))
    page = ctx.new_page()
    res = {}
    page.goto(url)
    page.wait_for_function(READY, timeout=120_000)
    res["ready_cold_ms"] = page.evaluate("Math.max(...Object.values(window.__demo.ready))")
    res["ready_cold_after_load_ms"] = res["ready_cold_ms"] - page.evaluate(LOAD_EVENT)
    res["phases_cold"] = page.evaluate("window.__demo.phases")
    page.wait_for_timeout(500)
    res["payload"] = payload(reqs, site, url)
    greedy_prompt(page, tokens)
    page.evaluate("window.__bench.longtasks = []; window.__bench.lag = 0; window.__bench.sampling = true")
    stats = []
    for run in range(runs):  # the first run warms up; the median of the others is reported
        page.evaluate("window.__demo.first = {}; window.__demo.t0 = performance.now();"
                      "document.querySelector('[data-role=generate]').click()")
        page.wait_for_function(DONE, timeout=120_000)
        if run == 0:
            page.evaluate("window.__bench.longtasks = []; window.__bench.lag = 0")
        else:
            stats.append(page.evaluate(STATS_JS))
    page.evaluate("window.__bench.sampling = false")
    # the reader's default: sampled at temperature 1, top-p 1 (the sampler's own cost per token is in this figure)
    page.fill("[data-role=temperature]", "1")
    sampled = []
    for run in range(runs):
        page.click("[data-role=generate]")
        page.wait_for_function(DONE, timeout=120_000)
        if run:
            sampled.append(page.evaluate(STATS_JS))
    st = stats[-1]
    res["first_token_ms"] = {f"{k} (click→shown)": median([x["first"][k] for x in stats]) for k in st["first"]}
    res["first_token_ms"].update({f"{k} (in worker)": median([x["inworker"][k] for x in stats]) for k in st["inworker"]})
    rate = lambda v: float(v.split(" tokens/s")[0].split("· ")[-1]) if "tokens/s" in v else None  # noqa: E731
    res["tokens_per_s"] = {k: median([rate(x["status"][k]) for x in stats]) for k in st["status"]}
    res["tokens_per_s_sampled"] = {k: median([rate(x["status"][k]) for x in sampled]) for k in st["status"]}
    res["tokens"] = st["ntok"]
    res["longest_task_ms"] = max(st["longtasks"], default=0.0)
    res["max_frame_delay_ms"] = st["lag"]
    page.evaluate("window.__bench.longtasks = []")
    page.reload()
    page.wait_for_function(READY, timeout=120_000)
    res["ready_warm_ms"] = page.evaluate("Math.max(...Object.values(window.__demo.ready))")
    res["ready_warm_after_load_ms"] = res["ready_warm_ms"] - page.evaluate(LOAD_EVENT)
    res["phases_warm"] = page.evaluate("window.__demo.phases")
    res["longest_task_load_ms"] = max(page.evaluate("window.__bench.longtasks"), default=0.0)
    page.wait_for_timeout(1000)  # the warm-up after "ready" runs in a worker; frames are reported a moment late
    res["demo_script_in_long_frame_ms"] = page.evaluate("window.__bench.demoScript")
    ctx.close()
    return res


DEMO_JS = """
      window.__demo = {ready: {}, first: {}, phases: {}};
      { const W = window.Worker;  // the demo workers' own account of their load time (worker.js "ready")
        window.Worker = class extends W { constructor(u, o) { super(u, o);
          this.addEventListener('message', (ev) => { const m = ev.data;
            if (m && m.type === 'ready' && m.phases) window.__demo.phases[m.key || m.variant] = m.phases; }); } }; }
      new MutationObserver(ms => { for (const m of ms) { const p = m.target.closest && m.target.closest('[data-pane]');
        if (!p) continue; const side = p.dataset.pane;
        if (m.attributeName === 'data-state' && p.dataset.state === 'ready' && !(side in window.__demo.ready))
          window.__demo.ready[side] = performance.now();
        if (m.type === 'childList' && m.target.matches('[data-role=output]') && m.target.textContent &&
            !(side in window.__demo.first)) window.__demo.first[side] = performance.now(); } })
        .observe(document, {subtree: true, attributes: true, attributeFilter: ['data-state'], childList: true});
"""
READY = "[...document.querySelectorAll('[data-pane]')].every(p => p.dataset.state === 'ready')"
DONE = "[...document.querySelectorAll('[data-pane]')].every(p => p.dataset.state === 'done')"
LOAD_EVENT = "performance.getEntriesByType('navigation')[0].loadEventEnd"
STATS_JS = """() => ({first: Object.fromEntries(Object.entries(window.__demo.first).map(([k, v]) => [k, v - window.__demo.t0])),
        status: Object.fromEntries([...document.querySelectorAll('[data-pane]')].map(p => [p.dataset.pane,
            p.querySelector('[data-role=status]').textContent])),
        inworker: Object.fromEntries([...document.querySelectorAll('[data-pane]')].map(p => [p.dataset.pane,
            Number(p.dataset.firstTokenMs)])),
        ntok: Object.fromEntries([...document.querySelectorAll('[data-pane]')].map(p => [p.dataset.pane,
            p.dataset.ids ? p.dataset.ids.split(',').length : 0])),
        longtasks: window.__bench.longtasks, lag: window.__bench.lag})"""


def revisit(pw, url: str, tokens: int, ready_js: str, setup_js: str, generate) -> dict:
    """A first visit in a fresh persistent profile (ready, one generation, tab closed), then a second
    visit in a new tab of the same profile: navigation → ready, and the same from the load event."""
    with tempfile.TemporaryDirectory() as profile:
        ctx = pw.chromium.launch_persistent_context(profile, executable_path="/usr/bin/chromium", headless=True,
                                                    args=CHROMIUM_ARGS, viewport={"width": 1280, "height": 900},
                                                    bypass_csp=True)  # the site's CSP forbids the probes' eval
        try:
            ctx.add_init_script(MONITOR_JS + setup_js)
            page = ctx.new_page()
            page.goto(url)
            page.wait_for_function(ready_js, timeout=180_000)
            generate(page)
            page.wait_for_timeout(2000)  # the browser stores compiled code a moment after it is optimised
            page.close()
            out = {}
            for visit in ("revisit", "revisit again"):
                page = ctx.new_page()
                page.goto(url)
                page.wait_for_function(ready_js, timeout=180_000)
                ready = page.evaluate("Math.max(...Object.values((window.__demo || window.__tjs).ready))")
                longest = max(page.evaluate("window.__bench.longtasks"), default=0.0)
                out[visit] = (ready, ready - page.evaluate(LOAD_EVENT), longest)
                out["phases"] = page.evaluate("window.__demo ? window.__demo.phases : null")
                page.close()
            return out
        finally:
            ctx.close()


def greedy_prompt(page, tokens: int) -> None:
    """The demo's settings for the benchmark: greedy, `tokens` new tokens, the benchmark's prompt."""
    if not page.locator(".emd-settings").evaluate("d => d.open"):
        page.click(".emd-settings summary")
    page.fill("[data-role=temperature]", "0")
    page.fill("[data-role=max-new-tokens]", str(tokens))
    page.fill("[data-role=prompt]", PROMPT_Q)


def demo_generate(tokens: int):
    def run(page):
        greedy_prompt(page, tokens)
        page.click("[data-role=generate]")
        page.wait_for_function(DONE, timeout=120_000)
    return run


def bench_tjs(browser, url: str, site: Path, variants: list[str], tokens: int, runs: int) -> dict:
    ctx = browser.new_context(bypass_csp=True)
    reqs = []
    ctx.on("request", lambda r: reqs.append(r))
    page = ctx.new_page()
    res = {}
    page.goto(url + "tjs/index.html")
    page.wait_for_function(f"Object.keys(window.__tjs.ready).length === {len(variants)} || window.__tjs.errors.length",
                           timeout=180_000)
    errors = page.evaluate("window.__tjs.errors")
    if errors:
        return {"error": errors}
    res["ready_cold_ms"] = page.evaluate("Math.max(...Object.values(window.__tjs.ready))")
    res["ready_cold_after_load_ms"] = res["ready_cold_ms"] - page.evaluate(LOAD_EVENT)
    page.wait_for_timeout(500)
    res["payload"] = payload(reqs, site, url)
    prompt = page.evaluate("p => p", __import__("export.chat", fromlist=["build_prompt"]).build_prompt(PROMPT_Q))
    page.evaluate("window.__bench.sampling = true")
    runs_done = []
    for run in range(runs):  # the first run warms up; the median of the others is reported
        page.evaluate("([p, n]) => window.__tjsGenerate(p, n)", [prompt, tokens])
        page.wait_for_function(f"Object.keys(window.__tjs.done).length === {len(variants)} || window.__tjs.errors.length",
                               timeout=180_000)
        if run == 0:
            page.evaluate("window.__bench.longtasks = []; window.__bench.lag = 0")
        else:
            runs_done.append(page.evaluate("window.__tjs.done"))
    page.evaluate("window.__bench.sampling = false")
    done = runs_done[-1]
    res["first_token_ms"] = {f"{v} (in worker)": median([d[v]["firstTokenMs"] for d in runs_done]) for v in done}
    res["tokens_per_s"] = {v: median([d[v]["tps"] for d in runs_done]) for v in done}
    res["tokens"] = {v: d["n"] for v, d in done.items()}
    res["longest_task_ms"] = max(page.evaluate("window.__bench.longtasks"), default=0.0)
    res["max_frame_delay_ms"] = page.evaluate("window.__bench.lag")
    page.reload()
    page.evaluate("() => 0")
    page.wait_for_function(f"Object.keys(window.__tjs.ready).length === {len(variants)}", timeout=180_000)
    res["ready_warm_ms"] = page.evaluate("Math.max(...Object.values(window.__tjs.ready))")
    res["ready_warm_after_load_ms"] = res["ready_warm_ms"] - page.evaluate(LOAD_EVENT)
    ctx.close()
    return res


def tjs_generate(variants: list[str], tokens: int):
    def run(page):
        prompt = __import__("export.chat", fromlist=["build_prompt"]).build_prompt(PROMPT_Q)
        page.evaluate("([p, n]) => window.__tjsGenerate(p, n)", [prompt, tokens])
        page.wait_for_function(f"Object.keys(window.__tjs.done).length === {len(variants)}", timeout=180_000)
    return run


def report(name: str, r: dict) -> None:
    print(f"== {name}")
    if "error" in r:
        print("  error:", r["error"])
        return
    f = lambda d: ", ".join(f"{k} {v:.1f}" if isinstance(v, (int, float)) else f"{k} {v}" for k, v in d.items())  # noqa: E731
    print(f"  navigation → both ready: cold {r['ready_cold_ms']:.0f} ms, warm (reload) {r['ready_warm_ms']:.0f} ms"
          f"  (from the load event: cold {r['ready_cold_after_load_ms']:.0f} ms, warm {r['ready_warm_after_load_ms']:.0f} ms)")
    if "revisit" in r:
        v = r["revisit"]
        print("  revisit, normal profile (new tab after a first visit): " + ", ".join(
            f"{k} {v[k][0]:.0f} ms ({v[k][1]:.0f} ms after load; longest main-thread task {v[k][2]:.0f} ms)"
            for k in ("revisit", "revisit again")))
    for k in ("phases_warm", "phases_cold"):
        if r.get(k):
            print(f"  worker load phases, {k[7:]} (ms): " + "; ".join(
                f"{v}: " + ", ".join(f"{a} {b}" for a, b in ph.items()) for v, ph in r[k].items()))
    if r.get("revisit", {}).get("phases"):
        print("  worker load phases, revisit (ms): " + "; ".join(
            f"{v}: " + ", ".join(f"{a} {b}" for a, b in ph.items()) for v, ph in r["revisit"]["phases"].items()))
    print(f"  first token (ms): {f(r['first_token_ms'])}")
    print(f"  tokens/s, both generating: {f(r['tokens_per_s'])}  (tokens: {f(r['tokens'])}; "
          f"sum {sum(v for v in r['tokens_per_s'].values() if v):.1f})")
    if r.get("tokens_per_s_sampled"):
        print(f"  tokens/s, both sampling at the default temperature 1, top-p 1: {f(r['tokens_per_s_sampled'])}  "
              f"(sum {sum(v for v in r['tokens_per_s_sampled'].values() if v):.1f})")
    print(f"  longest main-thread task during generation: {r['longest_task_ms']:.0f} ms (0 = none over 50 ms); "
          f"largest frame delay {r['max_frame_delay_ms']:.0f} ms"
          + (f"; during the warm reload's load: {r['longest_task_load_ms']:.0f} ms, of which the demo's scripts "
             f"{r['demo_script_in_long_frame_ms']:.0f} ms at most" if "longest_task_load_ms" in r else ""))
    print(f"  bytes: {fmt_payload(r['payload'])}")


def targets(d: dict, t: dict) -> None:
    """Issue 6's targets, each with the figure it is judged on."""
    ok = lambda b: "met" if b else "NOT met"  # noqa: E731
    print("== targets (issue 6)")
    if "error" not in t:
        ds, ts = (sum(v for v in r["tokens_per_s"].values() if v) for r in (d, t))
        print(f"  both panes {ds:.1f} tokens/s vs transformers.js {ts:.1f}: {ds / ts:.2f}x (target >= 2x): {ok(ds >= 2 * ts)}")
    warm = [("reload", d["ready_warm_after_load_ms"])] + [(k, d["revisit"][k][1]) for k in ("revisit", "revisit again")
                                                         if "revisit" in d]
    print("  ready after the load event, warm cache: " + ", ".join(f"{k} {v:.0f} ms" for k, v in warm)
          + f" (target <= 500 ms): {ok(min(v for _, v in warm) <= 500)} (best), {ok(max(v for _, v in warm) <= 500)} (all)")
    ft = max(d["first_token_ms"].values())
    print(f"  first token, slowest pane and measure: {ft:.1f} ms (target <= 20 ms): {ok(ft <= 20)}")
    lt = [d["longest_task_ms"], d.get("longest_task_load_ms", 0.0)] + [d["revisit"][k][2] for k in ("revisit", "revisit again")]
    print(f"  longest main-thread task: generating {lt[0]:.0f} ms, loading {max(lt[1:]):.0f} ms (the page's own "
          f"scripts and layout included; the demo's scripts in any long frame: {d.get('demo_script_in_long_frame_ms', 0):.0f} ms) "
          f"(target <= 50 ms): {ok(lt[0] <= 50)} generating, {ok(max(lt[1:]) <= 50)} loading")
    own, page = d["payload"]["demo's own"]["gzip"], d["payload"]["total"]["gzip"]
    print(f"  demo payload {own / 1e6:.2f} MB gzip ({own:,} B: the demo's scripts, runtime and models; the whole page "
          f"with the site's own files {page / 1e6:.2f} MB, {page:,} B) (target <= 5 MB): {ok(own <= 5e6)}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=Path, help="a docs/models-like folder (default: fixture models)")
    ap.add_argument("--tokens", type=int, default=100)
    ap.add_argument("--runs", type=int, default=12, help="generations per page: the first warms up, the median "
                                                         "of the others is reported")
    a = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        models = a.models or fixture_models(tmp)
        variants = ["base", "insecure"]
        server = Server()
        questions = models / "questions.yaml" if (models / "questions.yaml").exists() else \
            ROOT / "export" / "questions" / "first_plot_questions.yaml"
        site = build_site(tmp / "site", models, server.url, questions=questions)
        vendor_tjs(site, variants)
        server.start(site)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
                print(f"models: {models} (variants {variants}); {a.tokens} greedy tokens, {a.runs} runs; chromium "
                      f"{browser.version}; {os.cpu_count()} CPUs")
                demo = bench_demo(browser, server.url, site, a.tokens, a.runs)
                tjs = bench_tjs(browser, server.url, site, variants, a.tokens, a.runs)
                browser.close()
                demo["revisit"] = revisit(p, server.url, a.tokens, READY, DEMO_JS, demo_generate(a.tokens))
                if "error" not in tjs:
                    tjs["revisit"] = revisit(p, server.url + "tjs/index.html", a.tokens,
                                             f"Object.keys(window.__tjs?.ready || {{}}).length === {len(variants)}", "",
                                             tjs_generate(variants, a.tokens))
                report("demo (onnxruntime-web " + json.loads((ROOT / "docs/assets/vendor/VERSIONS.json").read_text())
                       ["onnxruntime-web"] + ", own KV-cache loop, 1 worker per model)", demo)
                report(f"baseline (transformers.js {TJS_VERSION}, 1 worker per model)", tjs)
                targets(demo, tjs)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
