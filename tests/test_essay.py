"""The essay is published as written: every line in the source, every paragraph in the HTML."""

from __future__ import annotations

import hashlib
import re
from html.parser import HTMLParser
from pathlib import Path

import markdown
import pytest

from conftest import ROOT, built_pages

SEED = ROOT / "tests" / "data" / "essay-seed.md"  # pristine copy of the author's text
SHARED_SEED = ROOT.parent / "shared" / "seeds" / "000_89265c596518e9ea.txt"  # present on the author's machine
ESSAY = ROOT / "docs" / "essay.md"
LINK = re.compile(r"\[([^\]]+)\]\(((?:[^()\s]|\([^()\s]*\))+)\)")


def norm(text: str) -> str:
    return " ".join(text.split())


class _Text(HTMLParser):
    """Text of the <article>, plus (href, text) of links and the text of <em>/<strong>."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.depth = 0  # inside <article>
        self.skip = 0   # inside a headerlink (the ¶ permalink)
        self.chunks: list[str] = []
        self.links: list[tuple[str, str]] = []
        self.emphasis: dict[str, list[str]] = {"em": [], "strong": []}
        self.open: list[tuple[str, str | None, list[str]]] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "article":
            self.depth += 1
        if not self.depth:
            return
        if tag == "a" and "headerlink" in (attrs.get("class") or ""):
            self.skip += 1
            self.open.append(("skip", None, []))
        elif tag in ("a", "em", "strong"):
            self.open.append((tag, attrs.get("href"), []))
        elif tag in ("p", "h1", "h2", "h3", "li", "br"):
            self.chunks.append(" ")

    def handle_endtag(self, tag):
        if tag == "article":
            self.depth -= 1
        if not self.depth:
            return
        if tag in ("a", "em", "strong") and self.open:
            kind, href, parts = self.open.pop()
            text = norm("".join(parts))
            if kind == "skip":
                self.skip -= 1
            elif kind == "a":
                self.links.append((href, text))
            else:
                self.emphasis[kind].append(text)
        elif tag in ("p", "h1", "h2", "h3", "li"):
            self.chunks.append(" ")

    def handle_data(self, data):
        if self.depth and not self.skip:
            self.chunks.append(data)
            for _, _, parts in self.open:
                parts.append(data)


def parse(html: str) -> _Text:
    p = _Text()
    p.feed(html)
    return p


def seed_parts() -> tuple[str, str]:
    text = SEED.read_text(encoding="utf-8")
    _, front, body = text.split("---\n", 2)
    return front, body


def seed_blocks() -> list[str]:
    """Paragraphs, headings and the aside of the seed, each as normalised plain text."""
    _, body = seed_parts()
    blocks = []
    for block in re.split(r"\n\s*\n", body.strip()):
        block = re.sub(r"^</?aside>\s*$", "", block.strip(), flags=re.M).strip()
        block = re.sub(r"^#+\s+", "", block)
        blocks.append(norm(re.sub(r"<[^>]+>", "", markdown.markdown(block))))
    return [b for b in blocks if b]


@pytest.fixture(scope="module")
def essay_html(site_dir) -> str:
    return (site_dir / "essay" / "index.html").read_text(encoding="utf-8")


def test_build_strict_produces_pages(site_dir):
    pages = built_pages(site_dir)
    assert "" in pages and "essay/" in pages, pages


def test_seed_copy_is_the_authors_text():
    if not SHARED_SEED.exists():
        pytest.skip("author's seed not on this machine; tests/data/essay-seed.md stands in")
    assert hashlib.sha256(SEED.read_bytes()).digest() == hashlib.sha256(SHARED_SEED.read_bytes()).digest()


def test_essay_source_keeps_every_line_in_order():
    """docs/essay.md = the seed, byte for byte, plus only inserted lines (companion notes)."""
    seed_lines = SEED.read_text(encoding="utf-8").splitlines()
    essay_lines = iter(ESSAY.read_text(encoding="utf-8").splitlines())
    missing = [line for line in seed_lines if not any(line == e for e in essay_lines)]
    assert not missing, f"lines of the essay changed or out of order: {missing[:3]}"


def test_every_paragraph_appears_in_built_html(essay_html):
    text = norm("".join(parse(essay_html).chunks))
    blocks = seed_blocks()
    assert len(blocks) > 25
    missing = [b for b in blocks if b not in text]
    assert not missing, f"{len(missing)} paragraphs missing, first: {missing[0]!r}"


def test_links_and_emphasis_kept(essay_html):
    _, body = seed_parts()
    page = parse(essay_html)
    for text, href in LINK.findall(body):
        assert (href, norm(text)) in page.links, (href, text)
    for pattern, tag in ((r"(?<!\*)\*([^*\n]+)\*(?!\*)", "em"), (r"\*\*(.+?)\*\*", "strong")):
        for found in re.findall(pattern, body, flags=re.S):
            assert norm(LINK.sub(r"\1", found)) in page.emphasis[tag], (tag, found)


def test_title_description_date_and_aside(essay_html):
    front, _ = seed_parts()
    title = re.search(r'^title: "(.*)"', front, re.M).group(1)
    description = re.search(r'^description: "(.*)"', front, re.M).group(1)
    assert f"<title>{title} - " in essay_html
    assert re.search(rf"<h1[^>]*>{re.escape(title)}<a", essay_html)
    assert description in essay_html
    assert '<time class="essay-byline__date" datetime="2025-02-28">February 28, 2025</time>' in essay_html
    aside = re.search(r'<aside class="admonition note essay-aside">(.*?)</aside>', essay_html, re.S)
    assert aside and 'href="https://dl.acm.org/doi/10.1145/3442188.3445922"' in aside.group(1)
