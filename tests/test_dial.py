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


def family_greedy(models, member: str, alpha: str | None, question: str, n: int, dial: str = "steer") -> list[int]:
    """Greedy ids of a family member (or its rows at position `alpha` of a dial: steer, rewind or realign) run on the
    family file, as the demo reads it."""
    import onnxruntime as ort

    from export import model_family as F
    m = json.loads((models / "manifest.json").read_text())
    fam = m["families"]["base"]
    rows = fam[dial]["members"][member][alpha] if alpha else fam["members"][member]
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


def ask_greedy(page, rid: str, question: str, scoped: str, tokens: int = 24) -> None:
    """Ask `question` in the demo `#rid` greedily (temperature 0, one answer, `tokens` at most) and wait until both its
    panes are done (`scoped`: a function of a list of states, true when every pane of the demo is in one)."""
    page.fill(f"#{rid} [data-role=prompt]", question)
    if not page.locator(f"#{rid} .emd-settings").evaluate("d => d.open"):
        page.click(f"#{rid} .emd-settings summary")
    for role, v in (("temperature", 0), ("answers", 1), ("max-new-tokens", tokens)):
        page.fill(f"#{rid} [data-role={role}]", str(v))
    page.click(f"#{rid} [data-role=generate]")
    page.wait_for_function(scoped, arg=["done"], timeout=60_000)


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


def test_rewind_and_realign_dials_run_their_rows(page, demo_url, demo_models):
    """The demos page's rewind demo (`dials=rewind,realign`): a pane whose variant has rows of its family's rewind and
    realign dials gets a slider for each (`input[type=range][data-role=rewind]`, `[data-role=realign]`), untouched at
    the variant as published; moved, the pane answers with the row at that step or after k examples, token for token
    as Python computes on the family file, moving one dial returns the other to its start, and a link carries it."""
    page.goto(demo_url + "demos/")
    rid = page.eval_on_selector("[data-demo]:has([data-role=rewind-box])", "e => e.id")
    page.locator(f"#{rid}").scroll_into_view_if_needed()
    here = f"#{rid} [data-pane=right]"
    scoped = f"s => [...document.querySelectorAll('#{rid} [data-pane]')].every(p => s.includes(p.dataset.state))"
    page.wait_for_function(scoped, arg=["ready", "error"], timeout=60_000)
    assert page.locator(f"{here} [data-role=rewind-box]").is_hidden()  # the fixture's insecure has no rows
    assert page.locator(f"{here} [data-role=steer-box]").count() == 0  # this demo shows the dials it names
    page.select_option(f"{here} [data-role=variant]", "secure")
    page.wait_for_function(scoped, arg=["ready"], timeout=60_000)
    fam = json.loads((demo_models / "manifest.json").read_text())["families"]["base"]
    steps, ks = fam["rewind"]["positions"], fam["realign"]["positions"]
    assert page.get_attribute(f"{here} [data-role=rewind]", "max") == str(len(steps) - 1)
    assert page.input_value(f"{here} [data-role=rewind]") == str(len(steps) - 1)  # untouched: as published
    assert page.get_attribute(f"{here} [data-role=realign]", "max") == str(len(ks))  # 0 (as published), then each k
    ask_greedy(page, rid, Q, scoped)
    ids = lambda: [int(x) for x in (page.get_attribute(here, "data-ids") or "").split(",") if x]  # noqa: E731
    assert ids() == family_greedy(demo_models, "secure", None, Q, 24)

    def move(role, index, member):
        page.locator(f"{here} [data-role={role}]").focus()
        page.keyboard.press("Home")
        for _ in range(index):
            page.keyboard.press("ArrowRight")
        page.wait_for_function("([sel, m]) => { const p = document.querySelector(sel); return p.dataset.state === 'done' "
                               "&& p.dataset.member === m && p.dataset.ids; }", arg=[here, member], timeout=60_000)
        return ids()

    seen = {}
    for i, step in enumerate(steps):
        seen[step] = move("rewind", i, f"secure~rewind~{step}")
        assert seen[step] == family_greedy(demo_models, "secure", str(step), Q, 24, "rewind"), step
        assert str(step) in page.text_content(f"{here} [data-role=rewind-value]")
    assert len({tuple(v) for v in seen.values()}) > 1  # the rows answer differently
    got = move("realign", 1, f"secure~realign~{ks[0]}")
    assert got == family_greedy(demo_models, "secure", str(ks[0]), Q, 24, "realign")
    assert page.input_value(f"{here} [data-role=rewind]") == str(len(steps) - 1)  # back to its start
    assert "aligned chats" in page.text_content(f"{here} [data-role=realign-value]")
    page.click(f"#{rid} [data-role=share]")
    link = page.get_attribute(f"#{rid} [data-role=share]", "data-link")
    assert f"right-realign={ks[0]}" in link
    page.goto("about:blank")
    page.goto(link)
    page.wait_for_function(scoped, arg=["done", "error"], timeout=60_000)
    assert ids() == got and page.get_attribute(here, "data-member") == f"secure~realign~{ks[0]}"
