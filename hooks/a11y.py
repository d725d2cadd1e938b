"""MkDocs hook: accessibility fixes to the theme's HTML that CSS cannot make.

* The search overlay is a `role="dialog"` without an accessible name (Lighthouse: aria-dialog-name):
  it gets `aria-label="Search the site"`.
"""
from __future__ import annotations

SEARCH = 'data-md-component="search" role="dialog"'


def on_post_page(output: str, page, config) -> str:
    return output.replace(SEARCH, SEARCH + ' aria-label="Search the site"', 1) if SEARCH in output else output


def on_post_template(output: str, template_name: str, config) -> str:
    return on_post_page(output, None, config) if template_name.endswith(".html") else output
