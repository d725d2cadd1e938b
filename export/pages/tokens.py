"""Tokens in a page's Markdown: `[[NAMESPACE:EXPRESSION]]`, found outside code and replaced by what a
renderer returns. A renderer's block of HTML goes through Markdown as a placeholder (the stash) and is put
back into the page's HTML afterwards, so Markdown never rewrites it."""
from __future__ import annotations

import re

TOKEN = re.compile(r"\[\[(results|config|world):\s*(.+?)\s*\]\]")
# Code regions where tokens stay literal: fenced blocks, then inline code spans.
FENCE = re.compile(r"^([ \t]*)(`{3,}|~{3,})[^\n]*\n.*?^\1\2[ \t]*$", re.M | re.S)
INLINE_CODE = re.compile(r"(`+)(?!`).+?(?<!`)\1(?!`)", re.S)
STASH = "EMRESULTSHTML{:04d}X"
STASH_RE = re.compile(r"(?:<p>)?EMRESULTSHTML(\d{4})X(?:</p>)?")
CODE_HTML = re.compile(r"<(pre|code)\b.*?</\1>", re.S)
LEFT_TOKEN = re.compile(r"\[\[\s*(?:results|config|world)\s*:")


class TokenError(Exception):
    """A token that cannot be rendered; the message names its line and the token."""


def protected_spans(markdown: str) -> list[tuple[int, int]]:
    """Where tokens are not rendered: fenced code blocks, and inline code outside them."""
    spans = [m.span() for m in FENCE.finditer(markdown)]
    for m in INLINE_CODE.finditer(markdown):
        if not any(a <= m.start() < b for a, b in spans):
            spans.append(m.span())
    return spans


def expand(markdown: str, render, literal: bool = False, errors: tuple = (), where: str = "") -> str:
    """Every token outside code replaced by `render(namespace, expression)`. A token inside a fenced block
    stays as written; inside `inline code` it is an error (a writer's slip), unless `literal` (a page that
    documents the syntax). An exception in `errors` becomes a TokenError naming the line and the token; so
    does a KeyError or TypeError, with `where` (a string, e.g. which files were read) after its message."""
    if "[[" not in markdown:
        return markdown
    spans = protected_spans(markdown)
    fences = [m.span() for m in FENCE.finditer(markdown)]

    def sub(m: re.Match) -> str:
        line = markdown.count("\n", 0, m.start()) + 1
        token = f"[[{m.group(1)}:{m.group(2)}]]"
        if any(a <= m.start() < b for a, b in spans):
            if literal or any(a <= m.start() < b for a, b in fences):
                return m.group(0)
            raise TokenError(f"line {line}, token {token} is inside `code`, so it would not be rendered: "
                             f"move it out of the backticks (or set `tokens: literal` in a page that documents tokens)")
        try:
            return render(m.group(1), m.group(2))
        except errors as e:
            raise TokenError(f"line {line}, token {token}: {e}") from None
        except (KeyError, TypeError) as e:
            raise TokenError(f"line {line}, token {token}: key {e} missing or malformed {where}") from None

    return TOKEN.sub(sub, markdown)


def unstash(html_text: str, stash: list[str]) -> str:
    return STASH_RE.sub(lambda m: stash[int(m.group(1))], html_text) if stash else html_text


def leftover_token(html_text: str) -> str | None:
    """The start of a token left in a page's HTML outside code (split over two lines, or mistyped), if any."""
    left = LEFT_TOKEN.search(CODE_HTML.sub("", html_text))
    return html_text[left.start():left.start() + 60] if left else None
