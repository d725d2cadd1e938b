"""What blocks the main thread while a page loads, at Lighthouse's mobile CPU slowdown (issue 24): a benchmark.

    .venv/bin/python tests/bench/main_thread.py [--site DIR] [--pages home,demos] [--slowdown 4] [--wait 10] [--runs 1]
                                                [--against OTHER_SITE]

Builds the site (unless --site names a built one), serves it on 127.0.0.1 with gzip (tests/bench/lighthouse.py),
and loads each page in Debian chromium at a 412 x 823 viewport with the CPU slowed down --slowdown times (DevTools'
CPU throttling, as Lighthouse's "applied" mode does), recording a trace with the JavaScript profiler on. For each task
of the page's main thread of 50 ms or more it prints when it started, how long it ran, and where the time went, from
the profiler's samples: the demo's scripts (assets/demo/), the theme's bundle, other scripts, and the browser's own
work (style, layout, parsing: no script on the stack). Then, per page: the blocking time (the sum over tasks of
their time past 50 ms, from the first task to the end) and the longest task in which the demo's scripts ran most.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter, defaultdict
from statistics import median
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lighthouse as L  # noqa: E402  (serve, build, pages)

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
CATEGORIES = ["devtools.timeline", "disabled-by-default-devtools.timeline", "v8.execute",
              "disabled-by-default-v8.cpu_profiler", "toplevel", "blink.user_timing"]


def record(url: str, slowdown: float, wait_ms: int, trace: Path) -> None:
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=L.CHROME, args=ARGS)
        ctx = b.new_context(viewport={"width": 412, "height": 823})
        page = ctx.new_page()
        ctx.new_cdp_session(page).send("Emulation.setCPUThrottlingRate", {"rate": slowdown})
        b.start_tracing(page=page, path=str(trace), categories=CATEGORIES)
        page.goto(url, wait_until="load")
        page.wait_for_timeout(wait_ms)
        b.stop_tracing()
        b.close()


def group(url: str) -> str:
    if "/assets/demo/" in url:
        return "demo"
    if "/assets/javascripts/bundle." in url:
        return "theme"
    return "other script" if url else ""


def analyse(trace: Path) -> list[dict]:
    ev = json.loads(trace.read_text())
    ev = ev["traceEvents"] if isinstance(ev, dict) else ev
    names = {(e["pid"], e["tid"]): e["args"]["name"] for e in ev if e.get("ph") == "M" and e.get("name") == "thread_name"}
    tasks_per = Counter((e["pid"], e["tid"]) for e in ev
                        if e.get("name") == "RunTask" and names.get((e["pid"], e["tid"])) == "CrRendererMain")
    key = tasks_per.most_common(1)[0][0]  # the page's renderer
    nav = min(e["ts"] for e in ev if e.get("name") == "navigationStart" and (e["pid"], e["tid"]) == key)
    nodes: dict = defaultdict(dict)
    clock: dict = {}
    for e in ev:
        if e.get("name") == "Profile" and (e["pid"], e["tid"]) == key:
            clock[e["id"]] = e["args"]["data"]["startTime"]
    samples = []
    for e in sorted((e for e in ev if e.get("name") == "ProfileChunk" and e.get("id") in clock), key=lambda e: e["ts"]):
        d = e["args"]["data"]
        for n in d.get("cpuProfile", {}).get("nodes", []):
            nodes[e["id"]][n["id"]] = n
        for s, dt in zip(d.get("cpuProfile", {}).get("samples", []), d.get("timeDeltas", [])):
            clock[e["id"]] += dt
            samples.append((clock[e["id"]], e["id"], s))

    def where(pid, nid) -> str:
        n, seen = nodes[pid].get(nid), []
        if n and n["callFrame"].get("functionName") == "(idle)":
            return "idle"
        while n:
            seen.append(group(n["callFrame"].get("url", "")))
            n = nodes[pid].get(n.get("parent"))
        for g in ("demo", "theme", "other script"):  # innermost script group wins; demo code called by the theme is demo
            if g in seen:
                return g
        return "browser"

    out = []
    for t in sorted((e for e in ev if (e["pid"], e["tid"]) == key and e.get("name") == "RunTask"
                     and e.get("ph") == "X" and e.get("dur", 0) >= 50_000), key=lambda e: e["ts"]):
        inside = Counter(where(pid, s) for ts, pid, s in samples if t["ts"] <= ts <= t["ts"] + t["dur"])
        inside.pop("idle", None)
        total = sum(inside.values()) or 1
        ms = t["dur"] / 1000
        out.append({"start": (t["ts"] - nav) / 1000, "ms": ms,
                    "parts": {g: ms * c / total for g, c in inside.most_common()} if inside else {"browser": ms}})
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--site", type=Path)
    ap.add_argument("--pages", default="home,demos")
    ap.add_argument("--slowdown", type=float, default=4.0)
    ap.add_argument("--wait", type=float, default=10.0, help="seconds recorded after the load event")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--against", type=Path, help="another built site (e.g. the last commit's): its pages are loaded "
                    "in turn with this one's, and the median blocking time of each is printed with their ratio")
    a = ap.parse_args(argv)
    tmp = tempfile.TemporaryDirectory()
    site = a.site or Path(tmp.name) / "site"
    httpd = L.serve(site, True)
    base = f"http://127.0.0.1:{httpd.server_address[1]}/"
    if a.site is None:
        L.build(site, base)
    sites = [("this site", base, L.pages(site))]
    if a.against:
        peer = L.serve(a.against, True)
        sites.append(("peer", f"http://127.0.0.1:{peer.server_address[1]}/", L.pages(a.against)))
    blocked: dict = defaultdict(list)
    for name in a.pages.split(","):
        for run in range(a.runs):
            for label, url, chosen in sites:  # in turn, so that a change in the machine's load hits both alike
                trace = Path(tmp.name) / f"{name}-{run}.json"
                record(url + chosen[name], a.slowdown, int(a.wait * 1000), trace)
                tasks = analyse(trace)
                print(f"== {name} (run {run + 1}, CPU {a.slowdown:g}x slower{', ' + label if a.against else ''})")
                for t in tasks:
                    parts = ", ".join(f"{g} {v:.0f}" for g, v in t["parts"].items())
                    print(f"  {t['start']:7.0f} ms  {t['ms']:5.0f} ms  {parts}")
                blocking = sum(t["ms"] - 50 for t in tasks)
                blocked[(name, label)].append(blocking)
                demo = [t for t in tasks if max(t["parts"], key=t["parts"].get) == "demo"]
                longest = max((t["ms"] for t in demo), default=0)
                print(f"  blocking {blocking:.0f} ms in {len(tasks)} long tasks; longest task mostly the demo's: "
                      f"{longest:.0f} ms" + ("" if demo else " (none over 50 ms)"))
    if a.against:
        print(f"\n{'page':12s} {'this site':>10s} {'peer':>10s} {'ratio':>6s}   (median blocking ms over {a.runs} runs)")
        for name in a.pages.split(","):
            mine, theirs = median(blocked[(name, "this site")]), median(blocked[(name, "peer")])
            print(f"{name:12s} {mine:10.0f} {theirs:10.0f} {mine / theirs if theirs else float('nan'):6.2f}")
        peer.shutdown()
    httpd.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
