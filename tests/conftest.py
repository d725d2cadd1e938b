"""Shared fixtures: the built site, a local static server, and a real browser.

    site_results (session) (results dir, figures dir) the site is built from: results/ (or
                 $EM_RESULTS) when it has a summary.json, else a synthetic tree (results_fixture.py)
    site_dir     (session) Path of a fresh `mkdocs build --strict` (fails with mkdocs' log),
                 built with SITE_URL = the test server's address
    site_server  (session) SiteServer: .url ("http://127.0.0.1:<port>/"), .host, .port, .root
    base_url     (session) str, same as site_server.url
    browser      (session) Playwright Chromium (sync API) on Debian /usr/bin/chromium
    context      (function) a fresh browser context, with a PageLog attached
    page         (function) a new Playwright Page in that context
    page_log     (function) PageLog of that context: console errors, page errors,
                 every request URL (pages and workers), bytes transferred
    smoke_build  (session) (build dir, env with EM_BUILD=it): every variant trained with --smoke (~40 s)
    smoke_published (session) (models dir, env): a complete published set of the smoke models,
                 as `export/quantize.py --smoke --samples 2` writes it (~2-3 min); copy it before changing it

Example:

    def test_home(page, page_log, base_url):
        page.goto(base_url)
        page.wait_for_load_state("networkidle")   # fine here: static server
        page_log.assert_clean(base_url)
"""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
MIME_TYPES = {
    ".wasm": "application/wasm",
    ".mjs": "text/javascript",
    ".js": "text/javascript",
    ".json": "application/json",
    ".onnx": "application/octet-stream",
    ".svg": "image/svg+xml",
    ".css": "text/css",
    ".html": "text/html",
    ".txt": "text/plain",
    ".xml": "application/xml",
    ".gz": "application/gzip",
}
LOCAL_SCHEMES = {"data", "blob", "about"}


# --------------------------------------------------------------------------- build
class _Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, **MIME_TYPES}

    def __init__(self, request, client_address, server):
        super().__init__(request, client_address, server, directory=str(server.root))

    def log_message(self, format, *args):  # quiet
        pass


@pytest.fixture(scope="session")
def _httpd():
    """The server socket, bound (random port) before the build so site_url can name it.

    Material's instant navigation only intercepts links found in sitemap.xml, whose URLs
    come from site_url: a build for :8000 served on another port does full page loads.
    """
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler, bind_and_activate=True)
    httpd.daemon_threads = True
    httpd.root = None
    yield httpd
    httpd.server_close()


@pytest.fixture(scope="session")
def site_results(tmp_path_factory) -> tuple[Path, Path]:
    """(results dir, figures dir) the site is built from: $EM_RESULTS / results/ when it holds a
    summary, else a small synthetic tree (tests/results_fixture.py) so that the site, whose organism
    page fails the build without results, can be tested before the pipeline has produced any."""
    from results_fixture import results_env

    env = results_env(tmp_path_factory.mktemp("results"))
    return Path(env["EM_RESULTS"]), Path(env["EM_FIGURES"])


@pytest.fixture(scope="session")
def site_dir(tmp_path_factory, _httpd, site_results) -> Path:
    """Build the site once per session with `mkdocs build --strict`; return its directory.

    site_url is set to the test server's address; mkdocs' log lands next to the directory
    (`<basetemp>/mkdocs-build.log`). Results for the organism page: see `site_results`.
    """
    out = tmp_path_factory.mktemp("site")
    host, port = _httpd.server_address[:2]
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "SITE_URL": f"http://{host}:{port}/",
           "EM_RESULTS": str(site_results[0]), "EM_FIGURES": str(site_results[1])}
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--clean", "--site-dir", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )
    (out.parent / "mkdocs-build.log").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        pytest.fail(f"mkdocs build --strict failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}", pytrace=False)
    return out


def built_pages(site: Path) -> list[str]:
    """URL paths (relative to the site root) of every HTML page in a built site, sorted."""
    paths = []
    for html in sorted(site.rglob("*.html")):
        rel = html.relative_to(site).as_posix()
        paths.append(rel[: -len("index.html")] if rel.endswith("index.html") else rel)
    return paths


# --------------------------------------------------------------------------- server
@dataclass
class SiteServer:
    root: Path
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"


@pytest.fixture(scope="session")
def site_server(site_dir, _httpd):
    """Serve the built site on 127.0.0.1 (random port) from a background thread."""
    _httpd.root = site_dir
    thread = threading.Thread(target=_httpd.serve_forever, name="site-server", daemon=True)
    thread.start()
    try:
        host, port = _httpd.server_address[:2]
        yield SiteServer(root=site_dir, host=host, port=port)
    finally:
        _httpd.shutdown()


@pytest.fixture(scope="session")
def base_url(site_server) -> str:
    return site_server.url


# --------------------------------------------------------------------------- browser
@pytest.fixture(scope="session")
def browser():
    """Debian chromium, headless, driven by Playwright's sync API (never `playwright install`)."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} missing: apt-get install -y chromium (make test does it)", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@dataclass
class PageLog:
    """What a browser context did: console errors, uncaught errors, every request."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    requests: list = field(default_factory=list)  # playwright Request objects, in order
    failed: list[str] = field(default_factory=list)

    @property
    def urls(self) -> list[str]:
        return [r.url for r in self.requests]

    def external(self, base_url: str) -> list[str]:
        """Request URLs that go anywhere but the local server (data:/blob: are local)."""
        origin = urlsplit(base_url)[:2]
        return [
            u for u in self.urls
            if urlsplit(u).scheme not in LOCAL_SCHEMES and urlsplit(u)[:2] != origin
        ]

    def bytes_transferred(self) -> int:
        """Headers + encoded bodies of finished requests (call once the page has settled)."""
        total = 0
        for r in self.requests:
            try:
                s = r.sizes()
            except Exception:  # request not finished (e.g. aborted)
                continue
            total += sum(max(0, s[k]) for k in ("requestHeadersSize", "requestBodySize",
                                                 "responseHeadersSize", "responseBodySize"))
        return total

    def clear(self) -> None:
        for lst in (self.console_errors, self.page_errors, self.requests, self.failed):
            lst.clear()

    def assert_clean(self, base_url: str) -> None:
        problems = []
        if self.console_errors:
            problems.append(f"console errors: {self.console_errors}")
        if self.page_errors:
            problems.append(f"page errors: {self.page_errors}")
        if self.external(base_url):
            problems.append(f"requests off the local server: {self.external(base_url)}")
        assert not problems, "\n".join(problems)


@pytest.fixture
def page_log() -> PageLog:
    return PageLog()


@pytest.fixture
def context(browser, page_log):
    """A fresh context (no cache, no storage, light colour scheme) recording into page_log."""
    # bypass_csp: Playwright evaluates wait_for_function predicates with eval, which the site's policy
    # forbids; tests/test_csp.py checks the site under its policy, without this
    ctx = browser.new_context(color_scheme="light", viewport={"width": 1280, "height": 900}, bypass_csp=True)
    ctx.on("request", lambda r: page_log.requests.append(r))
    ctx.on("requestfailed", lambda r: page_log.failed.append(f"{r.url}: {r.failure}"))

    def watch(pg):
        pg.on("console", lambda m: m.type == "error" and page_log.console_errors.append(
            f"{m.text} @ {m.location.get('url', '')}"))
        pg.on("pageerror", lambda e: page_log.page_errors.append(str(e)))

    ctx.on("page", watch)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context):
    return context.new_page()


# --------------------------------------------------------------------------- smoke pipeline
def _run_py(*args, env=None):
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, env=env, timeout=900)


@pytest.fixture(scope="session")
def smoke_build(tmp_path_factory):
    """Every variant trained on the smoke configuration, in a temporary build folder."""
    build = tmp_path_factory.mktemp("build")
    env = {**os.environ, "EM_BUILD": str(build)}
    r = _run_py("export/train.py", "--smoke", env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    return build, env


@pytest.fixture(scope="session")
def smoke_published(smoke_build, tmp_path_factory):
    """Every published variant built from the smoke checkpoints into a temporary models folder (never
    docs/models); tests that change it work on a copy."""
    _, env = smoke_build
    out = tmp_path_factory.mktemp("published") / "models"
    r = _run_py("export/quantize.py", "--smoke", "--no-train", "--samples", "2", "--out", str(out),
                env={**env, "EM_JOBS": "2"})
    assert r.returncode == 0, r.stderr[-3000:]
    return out, env
