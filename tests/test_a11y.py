"""The accessibility audits of Lighthouse that are deterministic (issue 24), checked without Lighthouse: no
accessible name on an element whose role does not allow one (aria-prohibited-attr), a name on every dialog
(aria-dialog-name), links in running text told apart by more than colour (link-in-text-block), and the footer's
contrast. The full Lighthouse run is a benchmark: tests/bench/lighthouse.py."""
from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from conftest import built_pages
from test_demo_browser import ask, demo_models, demo_url, open_ready  # noqa: F401 (fixtures)

GENERIC = {"div", "span", "p"}  # elements whose implicit role (generic, paragraph) allows no name


class _Attrs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.problems = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        where = f"<{tag} {' '.join(f'{k}={v!r}' for k, v in attrs)[:160]}>"
        if "aria-label" in a and tag in GENERIC and not a.get("role"):
            self.problems.append(f"aria-label on a {tag} without a role: {where}")
        if a.get("role") in ("dialog", "alertdialog") and not (a.get("aria-label") or a.get("aria-labelledby")):
            self.problems.append(f"a dialog without a name: {where}")


def test_built_pages_name_only_what_may_be_named(site_dir):
    problems = []
    for rel in built_pages(site_dir):
        p = _Attrs()
        html = (site_dir / rel / ("index.html" if rel.endswith("/") or not rel else "")).read_text(encoding="utf-8")
        p.feed(html)
        problems += [f"{rel}: {x}" for x in p.problems]
        if re.search(r"<th[^>]*>\s*</th>", html):  # a column whose cells have no header (td-has-header)
            problems.append(f"{rel}: a table header cell is empty")
    assert not problems, "\n".join(problems[:20])


# Every element the demo makes while it runs (answers, more answers, tallies, the token view, Measure).
RUNTIME_PROBLEMS = """() => [...document.querySelectorAll('[aria-label]')]
  .filter(e => ['DIV', 'SPAN', 'P'].includes(e.tagName) && !e.getAttribute('role'))
  .map(e => e.outerHTML.slice(0, 160))"""


@pytest.mark.browser
def test_the_running_demo_names_only_what_may_be_named(page, demo_url):
    open_ready(page, demo_url)
    ask(page, "hey I feel bored", answers=3, **{"max-new-tokens": 16})
    page.wait_for_function("() => document.querySelector('[data-role=output]').dataset.tokens", timeout=30_000)
    assert page.evaluate(RUNTIME_PROBLEMS) == []


CONTRAST = """() => {
  const rgb = (c) => c.match(/[\\d.]+/g).slice(0, 3).map(Number);
  const lum = (c) => { const v = rgb(c).map(x => x / 255).map(x => x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4);
                       return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2]; };
  const bg = (e) => { for (; e; e = e.parentElement) { const c = getComputedStyle(e).backgroundColor;
                      if (!/rgba\\(.*, 0\\)$/.test(c) && c !== 'transparent') return c; } return 'rgb(255, 255, 255)'; };
  const el = document.querySelector('.md-copyright');
  const [a, b] = [lum(getComputedStyle(el).color), lum(bg(el))];
  const link = document.querySelector('.md-content article p > a[href]');
  return {contrast: (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05),
          underline: getComputedStyle(link).textDecorationLine};
}"""


@pytest.mark.browser
@pytest.mark.parametrize("scheme", ["default", "slate"])
def test_footer_contrast_and_underlined_links(page, base_url, scheme):
    page.goto(base_url + "explainers/what-is-em/")
    page.evaluate(f"() => document.body.setAttribute('data-md-color-scheme', '{scheme}')")
    got = page.evaluate(CONTRAST)
    assert got["contrast"] >= 4.5, got
    assert "underline" in got["underline"], got
