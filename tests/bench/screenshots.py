"""Screenshots of the home page's demo after one generation (not a test): desktop light, desktop dark
and mobile, into build/screenshots/. Needs a built site in site/:

    mkdocs build && .venv/bin/python tests/bench/screenshots.py
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent.parent
OUT = ROOT / "build" / "screenshots"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = [("desktop-light", {"width": 1280, "height": 900}, "light"),
         ("desktop-dark", {"width": 1280, "height": 900}, "dark"),
         ("mobile", {"width": 390, "height": 844}, "light")]


def main() -> int:
    if not (ROOT / "site" / "index.html").exists():
        print("error: no built site in site/ (run: mkdocs build)", file=sys.stderr)
        return 2
    OUT.mkdir(parents=True, exist_ok=True)
    srv = subprocess.Popen([sys.executable, "-m", "http.server", "8765", "--bind", "127.0.0.1", "-d", str(ROOT / "site")],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            for name, viewport, scheme in SHOTS:
                ctx = browser.new_context(viewport=viewport, color_scheme=scheme)
                page = ctx.new_page()
                page.goto("http://127.0.0.1:8765/")
                if scheme == "dark":
                    page.evaluate("() => document.body.setAttribute('data-md-color-scheme', 'slate')")
                demo = page.locator(".emd").first
                demo.scroll_into_view_if_needed()
                time.sleep(4)  # both models load
                page.locator("[data-role=preset]").first.click()
                page.locator("[data-role=generate]").first.click()
                time.sleep(5)  # both answers finish
                demo.screenshot(path=str(OUT / f"{name}.png"))
                ctx.close()
            browser.close()
    finally:
        srv.terminate()
    print(f"screenshots in {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
