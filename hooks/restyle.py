"""MkDocs hook: the theme's palette stylesheet without the one rule that made a phone restyle the whole page twice on
every load (issue 24).

Material's palette component marks the body with `data-md-color-switching` while it applies the palette, and
removes it a moment later; its palette stylesheet has a rule for every element under a body so marked
(`[data-md-color-switching] *`, no transitions while colours switch). Because that rule exists, setting and removing
the mark each make the browser restyle every element of the page: on the demos page two restyles of ~2,200
elements, ~90-240 ms each at Lighthouse's mobile CPU slowdown, in the theme's first long task (a trace's invalidation
tracking; tests/bench/main_thread.py). The bundle sets the mark on every page load, though the palette only switches
when the reader picks one. Without the rule, a switch of palette lets the few elements with colour transitions
(links, buttons) fade for a fraction of a second instead of jumping. The rule is removed from the built copy of the
stylesheet; a theme release without it (or with it written differently) fails the build here, so this is looked at
again when the theme changes.
"""
from __future__ import annotations

from pathlib import Path

from mkdocs.exceptions import PluginError

RULE = ("[data-md-color-switching] *,[data-md-color-switching] :after,[data-md-color-switching] :before"
        "{transition-duration:0s!important}")


def on_post_build(config) -> None:
    found = sorted(Path(config["site_dir"], "assets", "stylesheets").glob("palette.*.min.css"))
    if len(found) != 1:
        raise PluginError(f"restyle hook: expected one palette stylesheet, found {[p.name for p in found]}")
    css = found[0].read_text(encoding="utf-8")
    if css.count(RULE) != 1:
        raise PluginError(f"restyle hook: the colour-switching rule is not in {found[0].name} as expected: the theme "
                          "changed; check whether the rule still restyles the page (hooks/restyle.py)")
    found[0].write_text(css.replace(RULE, ""), encoding="utf-8")
