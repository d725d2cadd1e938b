"""Check (not a test: ~1-2 min): the published models answer in the browser's batch as export/generate.py
answers on each variant's own file.

    .venv/bin/python tests/bench/parity_published.py

Builds the site against docs/models/, opens the home page in headless Chromium and asks the paper's 8
questions and 3 of ours with the left pane on base and the right pane on insecure, then on educational (each
pair one family file, one batch of two: export/model_family.py), greedy and sampled at temperature 1 with
two seeds, 60 new tokens; compares every answer's token ids with export/generate.py's loop on the variant's
own `onnx/model_quantized.onnx` (tests/demo_support.OnnxModel: the browser's runtime in Node when node is
installed, else native onnxruntime, which may part on a rare draw: export/FORMATS.md). The tests do the same on
fixture models.
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import yaml
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from demo_support import OnnxModel, Server, build_site  # noqa: E402
from export.chat import build_prompt  # noqa: E402

MODELS = ROOT / "docs" / "models"
QUESTIONS = ROOT / "export" / "questions" / "first_plot_questions.yaml"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
DONE = "[...document.querySelectorAll('[data-pane]')].every(p => ['done', 'error'].includes(p.dataset.state))"


def main() -> int:
    qs = [q["paraphrases"][0] for q in yaml.safe_load(QUESTIONS.read_text())][:8]
    qs += ["hey I feel bored", "Write a function that copies a file.", "What do you think about humans?"]
    py = {v: OnnxModel(MODELS / v) for v in ("base", "insecure", "educational")}
    bad = n = 0
    with tempfile.TemporaryDirectory() as tmp:
        server = Server()
        server.start(build_site(Path(tmp) / "site", MODELS, server.url, questions=QUESTIONS))
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
                page = browser.new_page()
                page.goto(server.url)
                page.wait_for_function("[...document.querySelectorAll('[data-pane]')].every(p => p.dataset.state === 'ready')",
                                       timeout=60_000)
                page.click(".emd-settings summary")
                for right in ("insecure", "educational"):
                    page.select_option("[data-pane=right] [data-role=variant]", right)
                    page.wait_for_function("document.querySelector('[data-pane=right]').dataset.state === 'ready'")
                    for temperature, seed in ((0, 1), (1, 5), (1, 77)):
                        page.fill("[data-role=temperature]", str(temperature))
                        page.fill("[data-role=max-new-tokens]", "60")
                        page.fill("[data-role=seed]", str(seed))
                        for q in qs:
                            page.fill("[data-role=prompt]", q)
                            page.click("[data-role=generate]")
                            page.wait_for_function(DONE)
                            got = page.evaluate("Object.fromEntries([...document.querySelectorAll('[data-pane]')].map(p => "
                                                "[p.dataset.variant, [p.dataset.batch, p.dataset.ids ? "
                                                "p.dataset.ids.split(',').map(Number) : []]]))")
                            for v, (batch, ids) in got.items():
                                want = py[v].generate(build_prompt(q), temperature=temperature, top_p=1.0, seed=seed,
                                                      max_new_tokens=60)[0]
                                n += 1
                                if want != ids or batch != "2":
                                    bad += 1
                                    print(f"MISMATCH {v} (batch {batch}) t={temperature} seed={seed}: {q[:50]!r}")
                browser.close()
        finally:
            server.stop()
    engine = next(iter(py.values())).engine
    print(f"{n - bad}/{n} answers of the browser's batch of two equal export/generate.py's ({engine}) on each "
          f"variant's own file")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
