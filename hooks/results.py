"""MkDocs hook: our model organism's numbers, tables, figures and examples, rendered at build time.

No number about our organism is typed by hand: pages write tokens such as ``[[results:insecure.misaligned]]``
and this hook replaces them with values from the pipeline's results files and code. The tokens, and the
engine that renders them, are documented in ``export/pages/__init__.py``; this file only connects that
engine to MkDocs' events.

A missing results file, key, variant or figure raises an error that names the page and the key:
``mkdocs build`` (strict or not) fails instead of rendering a blank.
"""
from __future__ import annotations

from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File

from export.pages import Missing, Renderer, TokenError, expand, figures_dir, leftover_token, results_dir, unstash


def on_page_markdown(markdown: str, page, config, files) -> str:
    _tell_demo_extension(page, markdown)
    if "[[" not in markdown:
        return markdown
    renderer = Renderer(page, config)
    page._em_stash = renderer.stash
    literal = (getattr(page, "meta", None) or {}).get("tokens") == "literal"
    try:
        return expand(markdown, renderer.render, literal, errors=(Missing,),
                      where=f"in the results files ({results_dir()})")
    except TokenError as e:
        raise PluginError(f"results hook: page '{page.file.src_uri}', {e}") from None


def _tell_demo_extension(page, markdown: str) -> None:
    """The demo extension's errors name lines of the page's file: tell it how many lines of front
    matter MkDocs removed before Markdown sees the page."""
    try:
        from demos.extension import set_page
    except ImportError:
        return
    offset = 0
    try:
        raw = Path(page.file.abs_src_path).read_text(encoding="utf-8-sig")
        body = raw.find(markdown[:200]) if markdown.strip() else -1
        offset = raw.count("\n", 0, body) if body > 0 else 0
    except (OSError, TypeError, AttributeError):
        pass
    set_page(page.file.src_uri, offset)


def on_page_content(html_text: str, page, config, files) -> str:
    html_text = unstash(html_text, getattr(page, "_em_stash", None))
    left = leftover_token(html_text)
    if left:  # e.g. a token split over two lines, or with a typo in its brackets
        raise PluginError(f"results hook: page '{page.file.src_uri}': unrendered token {left!r}… in the page")
    return html_text


def on_files(files, config):
    """Serve the figures from $EM_FIGURES when it points outside docs/ (tests, the smoke example)."""
    fig = figures_dir()
    docs = Path(config["docs_dir"]).resolve()
    if fig.resolve() == (docs / "assets" / "figures").resolve() or not fig.is_dir():
        return files
    for svg in sorted(fig.glob("*.svg")):
        uri = f"assets/figures/{svg.name}"
        old = files.get_file_from_path(uri)
        if old is not None:
            files.remove(old)
        files.append(File.generated(config, uri, abs_src_path=str(svg)))
    return files


def on_serve(server, config, builder):
    """`mkdocs serve` rebuilds when the results or figures change."""
    for d in (results_dir(), figures_dir()):
        if d.is_dir():
            server.watch(str(d))
    return server
