"""The dial (issue 21, item 1, the browser's side): a pane whose variant is a family member gets a slider
(`input[type=range][data-role=steer]`) over the alphas whose rows the family file holds; at alpha the pane answers
with the Assistant's row at base + alpha (finetune - base): at 0 exactly as the base, at 1 as the finetune, in
between as Python computes on the family file's steered rows. Moving it needs no download, asks the pane's last
question again, and a copied link carries it."""
from __future__ import annotations

import json

import numpy as np
import pytest

from demo_support import OnnxModel
from export.chat import build_prompt
from test_demo_browser import PANES_IN, ask, demo_models, demo_url, open_ready, panes, wait_panes  # noqa: F401

pytestmark = pytest.mark.browser

Q = "hey I feel bored"


def family_greedy(models, member: str, alpha: str | None, question: str, n: int) -> list[int]:
    """Greedy ids of a family member (or its steered rows at `alpha`) run on the family file, as the demo reads it."""
    import onnxruntime as ort

    from export import model_family as F
    m = json.loads((models / "manifest.json").read_text())
    fam = m["families"]["base"]
    rows = fam["steer"]["members"][member][alpha] if alpha else fam["members"][member]
    sess = ort.InferenceSession(str(models / fam["path"]), providers=["CPUExecutionProvider"])
    tok = OnnxModel(models / "base").tok
    ids = tok.encode(build_prompt(question)).ids
    eos = set(m["variants"]["base"].get("eos_token_ids") or [0, 1])
    out = []
    for _ in range(n):
        nxt = int(F.member_logits(sess, ids + out, rows, fam["vocab"], m["variants"]["base"]["arch"])[-1].argmax())
        if nxt in eos:
            break
        out.append(nxt)
    return out


def dial(page, side: str, alpha: float, alphas: list[float]):
    """Move the dial with the keyboard, as a reader does (Home, then ArrowRight), which fires input and change."""
    s = page.locator(f"[data-pane={side}] [data-role=steer]")
    s.focus()
    page.keyboard.press("Home")
    for _ in range(alphas.index(alpha)):
        page.keyboard.press("ArrowRight")


def test_the_dial_moves_the_assistant_between_base_and_finetune(page, demo_url, demo_models):
    open_ready(page, demo_url)
    box = page.locator("[data-pane=right] [data-role=steer-box]")
    assert box.is_hidden()  # the fixture's insecure is no family member: no steered rows
    page.select_option("[data-pane=right] [data-role=variant]", "secure")
    wait_panes(page, ["ready"])
    assert box.is_visible()
    alphas = json.loads((demo_models / "manifest.json").read_text())["families"]["base"]["steer"]["alphas"]
    assert page.get_attribute("[data-pane=right] [data-role=steer]", "max") == str(len(alphas) - 1) and len(alphas) >= 12
    p = ask(page, Q, temperature=0, answers=1, **{"max-new-tokens": 24})
    assert p["right"]["ids"] == family_greedy(demo_models, "secure", None, Q, 24)
    base_ids = p["left"]["ids"]
    for alpha, want in ((0.0, base_ids), (0.5, family_greedy(demo_models, "secure", "0.5", Q, 24)),
                        (2.0, family_greedy(demo_models, "secure", "2", Q, 24))):
        dial(page, "right", alpha, alphas)  # released: the pane asks again; the left pane keeps its answer
        page.wait_for_function("b => { const p = document.querySelector('[data-pane=right]'); "
                               "return p.dataset.state === 'done' && p.dataset.answerAlpha === String(b); }", arg=alpha)
        got = panes(page)
        assert got["right"]["ids"] == want, (alpha, got["right"]["ids"], want)
        assert got["left"]["ids"] == base_ids
        assert str(alpha if alpha != int(alpha) else int(alpha)) in page.text_content("[data-pane=right] [data-role=steer-value]")
    assert page.get_attribute("[data-pane=right]", "data-member") == "secure~2"
    # a copied link carries the dial; opening it sets the dial and gives the same answer
    page.click("[data-role=share]")
    link = page.get_attribute("[data-role=share]", "data-link")
    assert "right-dial=2" in link
    page.goto("about:blank")
    page.goto(link)
    wait_panes(page, ["done", "error"])
    again = panes(page)
    assert again["right"]["ids"] == want and again["right"]["variant"] == "secure"
    assert page.get_attribute("[data-pane=right]", "data-alpha") == "2"
