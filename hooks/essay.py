"""MkDocs hook: presentation for essay-style pages, without touching their prose.

The essay in ``docs/essay.md`` is kept exactly as the author wrote it (front matter
``title`` / ``description`` / ``pubDate`` and a Markdown body). This hook only changes
how it is shown:

* a page whose front matter has ``pubDate`` gets its front-matter ``title`` as the
  page heading (the nav label, e.g. "Essay", would otherwise be used) and a byline
  under it: the ``description`` and the date, in a ``<time>`` element;
* a raw ``<aside>…</aside>`` block (whose Markdown Python-Markdown would otherwise
  leave unrendered) becomes a side note: an ``<aside>`` styled as a Material
  admonition, with its Markdown rendered (needs the ``md_in_html`` extension).

It inserts nothing else. Companion notes go in ``essay.md`` itself, as ordinary
admonitions between the essay's sections.
"""

from __future__ import annotations

import datetime as dt
import html
import re

ASIDE = re.compile(r"^<aside>[ \t]*\n(?P<body>.*?)\n</aside>[ \t]*$", re.MULTILINE | re.DOTALL)
H1 = re.compile(r"^#[ \t]", re.MULTILINE)
DATE_FORMATS = ("%b %d %Y", "%B %d %Y", "%Y-%m-%d", "%b %d, %Y", "%B %d, %Y")


def parse_date(value) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    for fmt in DATE_FORMATS:
        try:
            return dt.datetime.strptime(str(value).strip(), fmt).date()
        except ValueError:
            continue
    return None


def byline(meta: dict) -> str:
    parts = []
    if meta.get("description"):
        parts.append(f'<span class="essay-byline__description">{html.escape(str(meta["description"]))}</span>')
    date = parse_date(meta["pubDate"])
    if date is None:
        parts.append(f'<span class="essay-byline__date">{html.escape(str(meta["pubDate"]))}</span>')
    else:
        label = f"{date:%B} {date.day}, {date.year}"
        parts.append(f'<time class="essay-byline__date" datetime="{date.isoformat()}">{label}</time>')
    return '<p class="essay-byline">' + "\n".join(parts) + "</p>"


def side_note(match: re.Match) -> str:
    return (
        '<aside class="admonition note essay-aside" markdown="block">\n'
        '<p class="admonition-title">Aside</p>\n\n'
        f"{match.group('body').strip()}\n\n"
        "</aside>"
    )


def on_page_markdown(markdown: str, page, config, files) -> str:
    markdown = ASIDE.sub(side_note, markdown)
    if "pubDate" in page.meta:
        header = byline(page.meta)
        if page.meta.get("title") and not H1.search(markdown):
            header = f"# {page.meta['title']}\n\n{header}"
        markdown = header + "\n\n" + markdown
    return markdown
