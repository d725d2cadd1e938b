"""Every built page in a real browser: no console errors, nothing loaded from other hosts."""

from __future__ import annotations

import json
import re

import pytest

from conftest import ROOT, PageLog, built_pages

pytestmark = pytest.mark.browser
REPORT = ROOT / "build" / "reports" / "browser-requests.json"


def settle(page) -> None:
    """Wait until the page and its deferred loads (search index, workers) are done."""
    page.wait_for_load_state("load")
    try:  # fine against the static test server; never do this against `mkdocs serve`
        page.wait_for_load_state("networkidle", timeout=5000)
    except Exception:
        pass


def test_every_page_clean(browser, site_dir, base_url, tmp_path_factory):
    report = {"base_url": base_url, "pages": {}}
    problems = []
    for path in built_pages(site_dir):
        # a fresh context and log per page: cold cache, honest weight
        ctx = browser.new_context(color_scheme="light")
        log = PageLog()
        ctx.on("request", lambda r, log=log: log.requests.append(r))
        page = ctx.new_page()
        page.on("console", lambda m, log=log: m.type == "error" and log.console_errors.append(m.text))
        page.on("pageerror", lambda e, log=log: log.page_errors.append(str(e)))
        page.goto(base_url + path)
        settle(page)
        report["pages"]["/" + path] = {
            "bytes_transferred": log.bytes_transferred(),
            "requests": [u.replace(base_url, "/") for u in log.urls],
        }
        try:
            log.assert_clean(base_url)
        except AssertionError as e:
            problems.append(f"/{path}: {e}")
        ctx.close()

    home = report["pages"]["/"]
    print(f"\nhome page: {home['bytes_transferred']} bytes transferred in {len(home['requests'])} requests")
    for p, r in report["pages"].items():
        print(f"  {p}: {len(r['requests'])} requests, {r['bytes_transferred']} bytes, all to {base_url}"
              if not any(u.startswith("http") for u in r["requests"]) else f"  {p}: {r['requests']}")
    text = json.dumps(report, indent=2)
    (tmp_path_factory.getbasetemp() / "browser-requests.json").write_text(text)
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(text)
    assert not problems, "\n".join(problems)


def test_essay_headings_visible(page, page_log, base_url, site_dir):
    from test_essay import seed_parts

    page.goto(base_url + "essay/")
    settle(page)
    _, body = seed_parts()
    headings = re.findall(r"^##\s+(.+)$", body, re.M)
    assert len(headings) >= 4
    assert page.locator("h1", has_text="Emergent Misalignment").is_visible()
    for h in headings:
        assert page.locator("h2", has_text=h).first.is_visible(), h
    assert page.locator("aside.essay-aside").is_visible()
    assert page.locator("time.essay-byline__date").is_visible()
    page_log.assert_clean(base_url)


def test_dark_mode_toggle_and_instant_navigation(page, page_log, base_url):
    page.goto(base_url)
    settle(page)
    scheme = lambda: page.locator("body").get_attribute("data-md-color-scheme")  # noqa: E731
    assert scheme() == "default"
    page.locator("label[title='Switch to dark mode']").click()
    page.wait_for_function("document.body.getAttribute('data-md-color-scheme') === 'slate'")
    # Instant navigation keeps the choice and swaps the page without a full load.
    page.evaluate("window.__same_document = true")
    page.locator(".md-content a[href$='essay/']").first.click()
    page.wait_for_url("**/essay/")
    page.locator("h1", has_text="Emergent Misalignment").wait_for()
    assert page.evaluate("window.__same_document === true"), "instant navigation did a full reload"
    assert scheme() == "slate"
    page.locator("label[title='Switch to light mode']").click()
    page.wait_for_function("document.body.getAttribute('data-md-color-scheme') === 'default'")
    page_log.assert_clean(base_url)


def test_palette_follows_the_system_until_picked_and_keeps_the_pick(browser, base_url):
    """hooks/palette.py and docs/javascripts/palette.js run the toggle instead of the theme's component: with nothing
    picked the system's dark setting gives the dark palette from the first paint; a pick survives a reload and beats
    the system's setting; Enter on the toggle cycles; the theme's palette component is not mounted."""
    ctx = browser.new_context(color_scheme="dark")
    page = ctx.new_page()
    # the scheme when the parser reaches the page's <main>: after the header's inline scripts, before any module
    page.add_init_script("""new MutationObserver((_, o) => { if (document.querySelector("main")) {
        window.__schemeAtMain = document.body.dataset.mdColorScheme; o.disconnect(); } })
        .observe(document, {childList: true, subtree: true});""")
    page.goto(base_url)
    settle(page)
    scheme = lambda: page.locator("body").get_attribute("data-md-color-scheme")  # noqa: E731
    assert page.evaluate("window.__schemeAtMain") == "slate" and scheme() == "slate"
    assert page.locator("label[title='Switch to light mode']").is_visible()
    assert page.locator("label[title='Switch to dark mode']").is_hidden()
    assert page.locator("[data-md-component=palette]").count() == 0
    assert page.locator("head meta[name=color-scheme]").count() == 0  # nothing restyles the page on load
    page.locator("label[title='Switch to light mode']").click()
    page.wait_for_function("document.body.getAttribute('data-md-color-scheme') === 'default'")
    page.reload()
    settle(page)
    assert scheme() == "default" and page.locator("label[title='Switch to dark mode']").is_visible()
    page.locator("label[title='Switch to dark mode']").focus()
    page.keyboard.press("Enter")
    page.wait_for_function("document.body.getAttribute('data-md-color-scheme') === 'slate'")
    ctx.close()


def test_harness_sees_errors_and_external_requests(page, page_log, base_url):
    """The checks above can fail: a console error and an off-site request are both caught."""
    page.route("http://external.invalid/**", lambda route: route.abort())
    page.goto(base_url)
    settle(page)
    page.evaluate("console.error('planted'); fetch('http://external.invalid/x').catch(() => {})")
    page.wait_for_timeout(300)
    assert any("planted" in e for e in page_log.console_errors)
    assert page_log.external(base_url) == ["http://external.invalid/x"]
    with pytest.raises(AssertionError):
        page_log.assert_clean(base_url)


@pytest.mark.parametrize("width", [390, 1280])
def test_no_page_wider_than_the_viewport(browser, site_dir, base_url, width):
    """Every built page, with every <details> open (samples, settings, footnotes), fits the viewport:
    long unbroken answers wrap, wide tables scroll inside themselves. Also without JavaScript."""
    wide = []
    for js in (True, False):
        ctx = browser.new_context(viewport={"width": width, "height": 844}, java_script_enabled=js)
        page = ctx.new_page()
        for path in built_pages(site_dir):
            page.goto(base_url + path)
            page.wait_for_load_state("load")
            page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
            w = page.evaluate("document.documentElement.scrollWidth")
            if w > width:
                culprit = page.evaluate("""(w) => { const out = [];
                  for (const el of document.querySelectorAll('article *')) {
                    const r = el.getBoundingClientRect();
                    if (r.right > w + 1 && el.children.length === 0) out.push(el.tagName + '.' + el.className + ': ' + (el.textContent || '').slice(0, 40));
                    if (out.length > 2) break; } return out; }""", width)
                wide.append(f"/{path} ({'js' if js else 'no js'}): {w}px {culprit}")
        ctx.close()
    assert not wide, "\n".join(wide)


def test_meta_descriptions_are_whole(site_dir):
    """Every page's <meta name="description"> holds its whole description: a straight double quote in
    a page's front matter (or the site's) used to end the attribute early."""
    from html.parser import HTMLParser

    class Meta(HTMLParser):
        def __init__(self):
            super().__init__()
            self.description = None

        def handle_starttag(self, tag, attrs):
            a = dict(attrs)
            if tag == "meta" and a.get("name") == "description":
                self.description = a.get("content")

    bad = []
    for path in built_pages(site_dir):
        html = (site_dir / (path if path.endswith(".html") else path + "index.html")).read_text(encoding="utf-8")
        tag = re.search(r'<meta name="description"[^>]*>', html)
        m = Meta()
        m.feed(tag.group(0) if tag else "")
        if not m.description or not re.fullmatch(r'<meta name="description" content="[^"]*">', tag.group(0)):
            bad.append(f"/{path}: {tag.group(0) if tag else 'no description'}")
    assert not bad, "\n".join(bad)
