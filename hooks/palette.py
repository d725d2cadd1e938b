"""MkDocs hook: the header's light/dark toggle run by our own few lines (docs/javascripts/palette.js) instead of
the theme's palette component, which made every page load restyle the whole page (issue 24).

On start, Material's palette component appends `<meta name="color-scheme">` to the head and then sets its content:
each change of a page's color-scheme meta makes Chromium restyle every element (on the demos page ~2,200 elements,
140-160 ms each at Lighthouse's mobile CPU slowdown: a trace's invalidation tracking, tests/bench/main_thread.py),
although the palette itself has not changed. The body's `data-md-color-scheme` and its theme's stylesheets already
give each palette its `color-scheme`, so the meta adds nothing the page shows.

This hook renames the toggle's `data-md-component="palette"` (so the theme's bundle does not mount it) to
`data-emd-palette`, which palette.js mounts with the theme's behaviour: the reader's pick is kept (the theme's own
storage, which the theme's inline script restores before the first paint), Enter cycles the palettes, and the label
of the palette in use shows. One difference, as mkdocs.yml says: until the reader picks one, the palette follows the
system's setting, and it is applied before the first paint by a script right after the theme's (the theme picked it
at the end of the page, after a first paint in the light palette, and then kept it as if picked).
"""
from __future__ import annotations

import json
import re

from mkdocs.exceptions import PluginError

FORM = '<form class="md-header__option" data-md-component="palette">'
OURS = '<form class="md-header__option" data-emd-palette>'
INPUT = re.compile(r'<input class="md-option" data-md-color-media="([^"]*)" data-md-color-scheme="([^"]*)" '
                   r'data-md-color-primary="([^"]*)" data-md-color-accent="([^"]*)"')
RESTORE = re.compile(r'<script>var palette=__md_get\("__palette"\);.*?</script>', re.S)


def follow_system(palettes: list[dict]) -> str:
    """The script that applies, when the reader has picked none, the first palette whose media query matches."""
    return ('<script>(function(l){if(__md_get("__palette"))return;for(var i=0;i<l.length;i++)'
            'if(matchMedia(l[i].media).matches){for(var k in l[i])document.body.setAttribute("data-md-color-"+k,l[i][k]);'
            f'return}}}})({json.dumps(palettes, separators=(",", ":"))})</script>')


def on_post_page(output: str, page, config) -> str:
    if FORM not in output:
        raise PluginError(f"palette hook: no palette form in {getattr(getattr(page, 'file', None), 'src_uri', 'a page')}"
                          " (the theme changed? hooks/palette.py)")
    palettes = [dict(zip(("media", "scheme", "primary", "accent"), m)) for m in INPUT.findall(output)]
    restore = RESTORE.search(output)
    if not palettes or not restore:
        raise PluginError("palette hook: the theme's palette inputs or its restore script changed (hooks/palette.py)")
    output = output[: restore.end()] + follow_system(palettes) + output[restore.end():]
    return output.replace(FORM, OURS, 1)


def on_post_template(output: str, template_name: str, config) -> str:
    return on_post_page(output, None, config) if template_name.endswith(".html") and FORM in output else output
