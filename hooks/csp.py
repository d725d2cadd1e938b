"""MkDocs hook: a Content-Security-Policy on every page, as a <meta> tag written at build time.

Everything the site loads comes from itself, and the policy says so: scripts only from the site, plus
the theme's few inline scripts, each allowed by the sha256 of its text (computed here from the built
page, never typed by hand, so a theme upgrade cannot silently break or widen it); WebAssembly may be
compiled ('wasm-unsafe-eval', which onnxruntime-web needs) but no JavaScript eval; workers, images,
styles, fonts and fetches from the site only (images also as data: URLs); no plugins; no <base>.
"""
from __future__ import annotations

import base64
import hashlib
import re

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)([^>]*)>(.*?)</script>", re.S | re.I)
META_CHARSET = re.compile(r"<meta charset=[^>]*>", re.I)

POLICY = ("default-src 'self'; script-src 'self' 'wasm-unsafe-eval' {hashes}; worker-src 'self'; "
          "img-src 'self' data:; style-src 'self'; font-src 'self'; connect-src 'self'; object-src 'none'; "
          "base-uri 'self'; form-action 'self'")


def policy(html: str) -> str:
    """The page's policy: the sha256 of each inline script that runs (JSON data blocks do not run)."""
    hashes = []
    for attrs, body in INLINE_SCRIPT.findall(html):
        if re.search(r"type=[\"']?application/(ld\+)?json", attrs, re.I):
            continue
        h = "'sha256-" + base64.b64encode(hashlib.sha256(body.encode("utf-8")).digest()).decode() + "'"
        if h not in hashes:
            hashes.append(h)
    return POLICY.format(hashes=" ".join(hashes)).replace("  ", " ")


# The site's one inline script: html.no-js becomes html.js before the first paint (Material's bundle, at the end of
# the body, does the same but after a long page's first paint), so that what only JavaScript readers see (the live
# demo's controls, demos/js/demo.css) is laid out from the start and mounting it shifts nothing. It also marks the
# root as the bundle's focus-visible polyfill will (a class and an attribute no style of ours or the theme's reads):
# when the bundle did it, the change to <html>'s class made the browser restyle the whole page, 130-260 ms at a
# phone's speed on the demos page (issue 24, a trace's invalidation tracking).
EARLY_JS = ('<script>(function(r){r.classList.replace("no-js","js");r.classList.add("js-focus-visible");'
            'r.setAttribute("data-js-focus-visible","")})(document.documentElement)</script>')


def on_post_page(output: str, page, config) -> str:
    tag = f'<meta http-equiv="Content-Security-Policy" content="{policy(output + EARLY_JS)}">\n    {EARLY_JS}'
    m = META_CHARSET.search(output)
    if m:  # right after the charset, before any script it governs
        return output[: m.end()] + "\n    " + tag + output[m.end():]
    return output.replace("<head>", "<head>\n    " + tag, 1)


def on_post_template(output: str, template_name: str, config) -> str:
    """The theme's own pages (404.html) get the same policy."""
    return on_post_page(output, None, config) if template_name.endswith(".html") else output
