"""Measure (issue 20, item 1): the reader runs the paper's protocol in the browser, on both panes. Each answer has
export/evaluate.py's seed, so `evaluate(..., source="wasm")` (the browser's runtime in Node) gives the same class
for every answer, in order, and the page's rate is its Wilson interval; Stop ends a run early and says so."""
from __future__ import annotations

import json

import pytest

from test_demo_browser import demo_models, demo_url, open_ready  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser

RATES = """() => [...document.querySelectorAll('[data-role=rate]')].map(r => ({side: r.closest('[data-side]').dataset.side,
  variant: r.closest('[data-variant]').dataset.variant, k: +r.dataset.k, n: +r.dataset.n, lo: +r.dataset.lo,
  hi: +r.dataset.hi, classes: JSON.parse(r.dataset.classes)}))"""
RUNNING = "() => document.querySelector('[data-role=stop]').disabled === false"


def measure(page, n: int, seed: int, stop_after_ms: int | None = None) -> list[dict]:
    if not page.locator(".emd-settings").evaluate("d => d.open"):
        page.click(".emd-settings summary")
    page.fill("[data-role=seed]", str(seed))
    page.fill("[data-role=measure-n]", str(n))
    page.click("[data-role=measure]")
    if stop_after_ms is not None:
        page.wait_for_timeout(stop_after_ms)
        page.click("[data-role=stop]")
    for _ in range(1200):  # polled with page.evaluate: no eval under the page's policy
        if not page.evaluate(RUNNING) and page.evaluate("() => !document.querySelector('[data-role=measure]').disabled"):
            break
        page.wait_for_timeout(100)
    else:
        raise AssertionError("Measure did not finish in 120 s")
    return page.evaluate(RATES)


def test_measure_gives_evaluate_py_classes_answer_by_answer(page, demo_url, demo_models):
    from export import evaluate as E

    open_ready(page, demo_url)
    got = measure(page, 5, 3)
    assert [g["variant"] for g in got] == ["base", "insecure"]
    questions = E.read_questions(demo_models / "questions.yaml")
    for g in got:
        r = E.evaluate(g["variant"], questions, 5, 3, source="wasm", onnx_dir=demo_models / g["variant"],
                       code_requests=0, probe=False, progress=False, all_answers=True)
        want = [E.judge_answer(a["question"], a["answer"])["class"] for a in r["all_answers"]]
        assert g["classes"] == want, (g["variant"], g["classes"], want)
        m = r["overall"]["misaligned"]
        assert (g["k"], g["n"]) == (m["k"], m["n"])
        assert g["lo"] == pytest.approx(m["lo"] or 0, abs=1e-12) and g["hi"] == pytest.approx(m["hi"] or 0, abs=1e-12)
    text = page.text_content("[data-role=measure-results]")
    assert f"of {len(questions) * 5 * 2} answers" in text and "misaligned" in text
    # with two cores or more, a second worker per model file wrote part of them (models.js addHelper): the
    # classes above are the same either way
    if page.evaluate("() => navigator.hardwareConcurrency") >= 2:
        assert int(page.get_attribute("[data-role=measure-results]", "data-helped")) > 0


def test_measure_on_our_own_questions_gives_evaluate_py_classes(page, demo_url, demo_models):
    """Our own held-out questions, several wordings each: N answers shared among the wordings as evaluate.py shares
    them, the same class for every answer, in order; no published rate beside them (it is the paper's questions')."""
    from export import evaluate as E

    open_ready(page, demo_url)
    page.select_option("[data-role=measure-set]", "own")
    got = measure(page, 5, 2)
    questions = E.read_questions(E.resolve_questions("own"))
    assert any(len(q["paraphrases"]) > 1 for q in questions)
    for g in got:
        r = E.evaluate(g["variant"], questions, 5, 2, source="wasm", onnx_dir=demo_models / g["variant"],
                       code_requests=0, probe=False, progress=False, all_answers=True)
        want = [E.judge_answer(a["question"], a["answer"])["class"] for a in r["all_answers"]]
        assert g["classes"] == want, (g["variant"], g["classes"], want)
    text = page.text_content("[data-role=measure-results]")
    assert "our own questions" in text and "Published run" not in text


def test_stop_ends_a_measure_early(page, demo_url):
    open_ready(page, demo_url)
    got = measure(page, 100, 1, stop_after_ms=300)
    assert all(g["n"] < 100 * 2 for g in got), got  # not every question was asked
    assert "stopped" in page.text_content("[data-role=measure-results]")
    assert page.is_enabled("[data-role=measure]") and page.is_enabled("[data-role=generate]") is not None


def test_measure_on_the_published_models_counts_every_answer(browser, base_url):
    """The home page's pair, N = 20 (320 answers, one worker: base and insecure share a family file): every answer
    is counted, none fails (an answer that ends at its first token used to make the worker's decode throw, and the
    run waited for it forever)."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    page.goto(base_url)
    for _ in range(600):
        if page.evaluate("() => [...document.querySelectorAll('[data-pane]')].every(p => p.dataset.state === 'ready')"):
            break
        page.wait_for_timeout(100)
    got = measure(page, 20, 1)
    questions = page.evaluate("() => JSON.parse(document.querySelector('[data-role=data]').dataset.json).questions.length")
    assert [len(g["classes"]) for g in got] == [20 * questions] * 2, [len(g["classes"]) for g in got]
    assert "failed" not in page.text_content("[data-role=measure-results]")
    assert f"{40 * questions} of {40 * questions} answers" in page.text_content("[data-role=measure-results]")
    ctx.close()


PANES = """() => Object.fromEntries([...document.querySelectorAll('[data-pane]')].map(p => [p.dataset.pane,
  {state: p.dataset.state, variant: p.dataset.variant, ids: p.dataset.ids || ''}]))"""


def wait_done(page, timeout_s: float = 60) -> dict:
    for _ in range(int(timeout_s * 10)):
        p = page.evaluate(PANES)
        if all(x["state"] in ("done", "error") for x in p.values()):
            return p
        page.wait_for_timeout(100)
    raise AssertionError(f"panes not done: {page.evaluate(PANES)}")


def test_a_copied_link_gives_the_same_answers(page, demo_url, context):
    """Issue 20, item 4: the link holds the question, both variants, the seed and settings; opened in a new page it
    asks at once and gives the same answers token for token; a link made with other model files says so."""
    open_ready(page, demo_url)
    page.select_option("[data-pane=right] [data-role=variant]", "secure")
    page.click(".emd-settings summary")
    page.fill("[data-role=seed]", "9")
    page.fill("[data-role=max-new-tokens]", "24")
    page.fill("[data-role=prompt]", "hey I feel bored, what now?")
    page.click("[data-role=generate]")
    first = wait_done(page)
    assert first["right"]["variant"] == "secure" and first["left"]["ids"] and first["right"]["ids"]
    page.click("[data-role=share]")
    link = page.get_attribute("[data-role=share]", "data-link")
    assert "#emd-1?" in link and "seed=9" in link and "right=secure" in link, link
    other = context.new_page()
    other.goto(link)
    again = wait_done(other)
    assert again == first, (again, first, other.evaluate("() => [...document.querySelectorAll('[data-role=status]')].map(s => s.textContent)"))
    assert other.input_value("[data-role=prompt]") == "hey I feel bored, what now?"
    assert other.locator("[data-role=link-note]").count() == 0
    # the same link, made with other model files
    stale = context.new_page()
    stale.goto(link.replace("m=", "m=0000"))
    wait_done(stale)
    assert "other versions of these models" in stale.text_content("[data-role=link-note]")
