"""MkDocs hook: page descriptions safe in <meta name="description" content="…">.

The theme writes the description into the attribute unescaped, so a straight double quote in a page's
`description:` (or the site's) ended the attribute early: search engines saw 'A companion site to the
essay '. Straight quotes become typographic ones (“…”), which read the same and need no escaping.
"""
from __future__ import annotations

import re

PAIR = re.compile(r'"([^"]*)"')


def curly(text):
    if not isinstance(text, str) or '"' not in text:
        return text
    text = PAIR.sub("\u201c\\1\u201d", text)
    return text.replace('"', "\u201d")  # an unpaired one left over


def on_config(config):
    config["site_description"] = curly(config.get("site_description"))
    return config


def on_page_markdown(markdown, page, config, files):
    if page.meta.get("description"):
        page.meta["description"] = curly(page.meta["description"])
    return markdown
