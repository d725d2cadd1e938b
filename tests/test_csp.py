"""The Content-Security-Policy (hooks/csp.py) is on every page, and the site works under it: each page
loads, its demos answer, search finds the essay, with zero `securitypolicyviolation` events."""
from __future__ import annotations

import re

import pytest

from conftest import built_pages

pytestmark = pytest.mark.browser

LISTEN = """window.__csp = []; document.addEventListener('securitypolicyviolation',
  e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI + ' ' + (e.sourceFile || '') + ':' + e.lineNumber));"""


def test_every_page_has_the_policy(site_dir):
    for path in built_pages(site_dir):
        html = (site_dir / (path if path.endswith(".html") else path + "index.html")).read_text(encoding="utf-8")
        head = html.split("</head>")[0]
        m = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', head)
        assert m, f"/{path}: no policy"
        assert "default-src 'self'" in m.group(1) and "'unsafe-inline'" not in m.group(1)
        assert head.index("Content-Security-Policy") < head.find("<script"), f"/{path}: a script before the policy"


def wait_for(page, expr: str, timeout_s: float = 60) -> None:
    """Poll with page.evaluate: Playwright's wait_for_function evaluates its predicate with eval, which
    the policy (rightly) forbids."""
    import time
    end = time.monotonic() + timeout_s
    while not page.evaluate(f"() => {expr}"):
        assert time.monotonic() < end, f"timed out waiting for {expr}"
        page.wait_for_timeout(100)


def test_no_violations_using_demo_and_search(browser, site_dir, base_url):
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    ctx.add_init_script(LISTEN)
    page = ctx.new_page()
    errors = []
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    bad = {}
    for path in built_pages(site_dir):
        page.goto(base_url + path)
        page.wait_for_load_state("load")
        for i in range(page.locator("[data-demo]").count()):  # each demo loads when it comes into view
            demo = page.locator("[data-demo]").nth(i)
            demo.scroll_into_view_if_needed()
            states = f"[...document.querySelectorAll('[data-demo]')[{i}].querySelectorAll('[data-pane]')].map(p => p.dataset.state)"
            wait_for(page, f"{states}.every(s => s === 'ready' || s === 'error')")
            demo.locator(".emd-chip").first.click()
            wait_for(page, f"{states}.every(s => s === 'done' || s === 'error')")
            assert "error" not in page.evaluate(f"() => {states}"), (path, i)
        v = page.evaluate("() => window.__csp")
        if v:
            bad[path] = v
    page.goto(base_url + "essay/")  # Material's search: its worker and its index
    page.wait_for_load_state("load")
    page.keyboard.press("/")
    page.keyboard.type("misalignment")
    wait_for(page, "document.querySelectorAll('.md-search-result__item').length > 0", 20)
    if page.evaluate("() => window.__csp"):
        bad["essay/ (search)"] = page.evaluate("() => window.__csp")
    ctx.close()
    assert not bad, bad
    assert not [e for e in errors if "Content Security Policy" in e], errors
