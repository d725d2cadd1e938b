"""Lighthouse on every page of the site (issue 24): a benchmark, not a test, and not in the default test run.

    npm ci --ignore-scripts      # the dev dependencies too: lighthouse (pinned in package.json)
    .venv/bin/python tests/bench/lighthouse.py [--site DIR] [--pages home,essay] [--forms mobile,desktop]
                                               [--runs N] [--no-gzip] [--trace] [--out build/reports/lighthouse]

Builds the site (`mkdocs build --strict`, unless --site names a built one), serves it on 127.0.0.1 (gzip for
text, as static hosts serve it; --no-gzip for the plain files), and runs Lighthouse 12 with Debian chromium on
each page: "mobile" is Lighthouse's default (a phone, slow 4G and 4x CPU slowdown, simulated), "desktop" its
desktop preset. Prints one row per page and form: the four category scores, total blocking time, largest
contentful paint, and the audits that failed; the JSON reports go to --out. Performance depends on the
machine and on what else runs on it: run it alone.
"""
from __future__ import annotations

import argparse
import gzip
import http.server
import io
import json
import os
import subprocess
import sys
import tempfile
import threading
from statistics import median
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
LIGHTHOUSE = ROOT / "node_modules" / ".bin" / "lighthouse"
CHROME = os.environ.get("CHROME_PATH", "/usr/bin/chromium")
CATEGORIES = ("performance", "accessibility", "best-practices", "seo")
TEXT = (".html", ".css", ".js", ".mjs", ".json", ".svg", ".txt", ".xml", ".map")
TYPES = {".mjs": "text/javascript", ".js": "text/javascript", ".wasm": "application/wasm", ".json": "application/json",
         ".onnx": "application/octet-stream", ".svg": "image/svg+xml", ".css": "text/css", ".html": "text/html"}


def pages(site: Path) -> dict[str, str]:
    """name -> URL path of every page (home, essay, demos, explainers/<name>, 404)."""
    out = {}
    for html in sorted(site.rglob("index.html")):
        rel = html.parent.relative_to(site).as_posix()
        if rel.startswith(("assets", "search")):
            continue
        out["home" if rel == "." else rel.split("/")[-1]] = "" if rel == "." else rel + "/"
    return out


def serve(site: Path, compress: bool) -> http.server.ThreadingHTTPServer:
    class Handler(http.server.SimpleHTTPRequestHandler):
        extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, **TYPES}

        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(site), **kw)

        def log_message(self, *a):
            pass

        def send_head(self):
            path = Path(self.translate_path(self.path))
            if path.is_dir():
                path = path / "index.html"
            if not (compress and path.is_file() and path.suffix in TEXT
                    and "gzip" in self.headers.get("Accept-Encoding", "")):
                return super().send_head()
            body = gzip.compress(path.read_bytes(), 6, mtime=0)
            self.send_response(200)
            self.send_header("Content-Type", self.guess_type(str(path)))
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            return io.BytesIO(body)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


def build(out: Path, site_url: str) -> None:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "SITE_URL": site_url}
    subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--clean", "--site-dir", str(out)],
                   cwd=ROOT, env=env, check=True, capture_output=True)


def run(url: str, form: str, report: Path, trace: bool = False) -> dict:
    cmd = [str(LIGHTHOUSE), url, "--output=json", f"--output-path={report}", "--quiet",
           f"--only-categories={','.join(CATEGORIES)}", "--chrome-flags=--headless=new --no-sandbox --disable-gpu"]
    if trace:  # <report>-0.trace.json beside the report: what each long task ran (tests/bench/long_tasks.py reads it)
        cmd.append("--save-assets")
    if form == "desktop":
        cmd.append("--preset=desktop")
    subprocess.run(cmd, check=True, env={**os.environ, "CHROME_PATH": CHROME}, capture_output=True)
    r = json.loads(report.read_text())
    failed = [k for k, a in r["audits"].items() if a.get("scoreDisplayMode") == "binary" and a.get("score") == 0]
    return {"scores": {c: round(100 * (r["categories"][c]["score"] or 0)) for c in CATEGORIES},
            "tbt": r["audits"]["total-blocking-time"]["numericValue"],
            "lcp": r["audits"]["largest-contentful-paint"]["numericValue"], "failed": failed}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--site", type=Path, help="a built site (default: build one)")
    ap.add_argument("--pages", help="comma-separated page names (default: every page)")
    ap.add_argument("--forms", default="mobile,desktop")
    ap.add_argument("--no-gzip", action="store_true")
    ap.add_argument("--trace", action="store_true", help="keep each run's trace beside its report")
    ap.add_argument("--runs", type=int, default=1, help="runs per page and form; the row gives each figure's median "
                    "(on a 2-core machine one mobile run's blocking time varies by a few hundred ms)")
    ap.add_argument("--out", type=Path, default=ROOT / "build" / "reports" / "lighthouse")
    a = ap.parse_args(argv)
    if not LIGHTHOUSE.exists():
        print("error: lighthouse is not installed (npm ci --ignore-scripts installs the dev dependencies)", file=sys.stderr)
        return 2
    tmp = None
    if a.site is None:
        tmp = tempfile.TemporaryDirectory()
        a.site = Path(tmp.name) / "site"
    httpd = serve(a.site, not a.no_gzip)
    base = f"http://127.0.0.1:{httpd.server_address[1]}/"
    if tmp:
        build(a.site, base)
    a.out.mkdir(parents=True, exist_ok=True)
    chosen = pages(a.site)
    if a.pages:
        unknown = set(a.pages.split(",")) - set(chosen)
        if unknown:
            sys.exit(f"no such page: {', '.join(sorted(unknown))} (pages: {', '.join(chosen)})")
        chosen = {k: v for k, v in chosen.items() if k in a.pages.split(",")}
    if a.runs > 1:
        print(f"medians of {a.runs} runs")
    print(f"{'page':<24}{'form':<9}{'perf':>5}{'a11y':>6}{'bp':>5}{'seo':>5}{'TBT ms':>8}{'LCP s':>7}  failed audits")
    rows = {}
    for name, path in chosen.items():
        for form in a.forms.split(","):
            got = [run(base + path, form, a.out / f"{name}-{form}{f'-{i + 1}' if a.runs > 1 else ''}.json", a.trace)
                   for i in range(a.runs)]
            r = {"scores": {c: median(g["scores"][c] for g in got) for c in CATEGORIES},
                 "tbt": median(g["tbt"] for g in got), "lcp": median(g["lcp"] for g in got),
                 "failed": sorted({f for g in got for f in g["failed"]}), "runs": got}
            rows[f"{name}/{form}"] = r
            s = r["scores"]
            print(f"{name:<24}{form:<9}{s['performance']:>5g}{s['accessibility']:>6g}{s['best-practices']:>5g}{s['seo']:>5g}"
                  f"{r['tbt']:>8.0f}{r['lcp'] / 1000:>7.1f}  {', '.join(r['failed']) or '-'}", flush=True)
    (a.out / "summary.json").write_text(json.dumps(rows, indent=1))
    httpd.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
