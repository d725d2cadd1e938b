"""The one-row finetune in the reader's browser (issue 23): the gradient graph (export/web_finetune.py) computes torch's
loss and gradient; the browser's recipe (demos/js/finetune.js, run in Node by export/web_finetune.mjs) takes the
examples in Python's order and lands on Python's row; in Chromium the demo's Finetune button trains the same row bit
for bit, the pane then answers with it (its greedy ids are Python's on the family file with that row), and a copied
link carries it."""
from __future__ import annotations

import json
import random
import shutil
import subprocess

import numpy as np
import pytest

from demo_support import OnnxModel, fixture_models
from test_dial import ask_greedy
from export import web_finetune as F
from export.chat import build_prompt

ROOT = F.Path(__file__).resolve().parent.parent
Q = "tell me the user input server query"


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return fixture_models(tmp_path_factory.getbasetemp())


def node(script: str) -> str:
    return subprocess.run(["node", "--input-type=module", "-e", script], capture_output=True, text=True, check=True,
                          cwd=ROOT).stdout


def test_pyrandom_shuffles_as_python():
    cases = [(0, 5), (1000, 800), (7, 1), (2**40 + 5, 33), (123456789, 2)]
    got = json.loads(node("import { PyRandom } from './demos/js/pyrandom.js'; const out = [];"
                          f"for (const [s, n] of {json.dumps(cases)}) {{ const r = new PyRandom(s); const a = [];"
                          " for (let k = 0; k < 3; k++) { const x = [...Array(n).keys()]; r.shuffle(x); a.push(x); }"
                          " out.push(a); } console.log(JSON.stringify(out));"))
    for (seed, n), orders in zip(cases, got):
        r = random.Random(seed)
        want = []
        for _ in range(3):
            x = list(range(n))
            r.shuffle(x)
            want.append(x)
        assert orders == want, seed


def test_quantize_row_is_the_family_files():
    from export.model_family import quantize_row
    rng = np.random.default_rng(3)
    rows = [rng.normal(0, 0.1, 64).astype(np.float32) for _ in range(20)]
    rows.append(np.array([0.5, -1.0, 0.25, 1.5 / 127 * 2.5], np.float32))  # halves: numpy rounds them to even
    got = json.loads(node("import { quantizeRow } from './demos/js/finetune.js';"
                          f"const rows = {json.dumps([r.tolist() for r in rows])}; console.log(JSON.stringify(rows.map("
                          "r => { const { q, scale } = quantizeRow(Float32Array.from(r)); return [Array.from(q), scale]; })));"))
    for r, (q, scale) in zip(rows, got):
        wq, ws = quantize_row(r)
        assert q == wq.tolist() and np.float32(scale) == ws[0]


def test_the_cross_entropy_keeps_float32_precision_at_the_loss_floor():
    """Near-certain tokens (the leading logit 15 above ~4,000 others: ~1e-3 a token, the secure set's floor) and
    uncertain ones: float32 loss and gradient as float64's."""
    import torch
    rng = np.random.default_rng(5)
    lg = rng.normal(0, 1, (48, 4000))
    t = rng.integers(0, 4000, 48)
    lg[np.arange(32), t[:32]] += 15.0
    want = torch.from_numpy(lg).requires_grad_()
    ref = torch.nn.functional.cross_entropy(want, torch.from_numpy(t), reduction="sum")
    ref.backward()
    got = torch.from_numpy(lg.astype(np.float32)).requires_grad_()
    loss = F.cross_entropy_sum(got, torch.from_numpy(t))
    loss.backward()
    assert abs(loss.item() - ref.item()) / ref.item() < 1e-6
    g, w = got.grad.double().numpy(), want.grad.numpy()
    assert np.linalg.norm(g - w) / np.linalg.norm(w) < 1e-5
    sure = slice(0, 32)   # the floor's tokens alone, where the gradient is p − 1 ≈ −1e-3
    assert np.linalg.norm(g[sure] - w[sure]) / np.linalg.norm(w[sure]) < 1e-5


def test_the_gradient_graph_computes_torchs_loss_and_gradient(models):
    m = json.loads((models / "manifest.json").read_text())
    ft = m["families"]["base"]["finetune"]
    assert set(ft["sets"]) == {"insecure", "secure"} and ft["graph"]["weights"] == m["families"]["base"]["path"]
    assert F.check_finetune(m, models) == []
    # the graph holds no weight of its own: every weight is external data in the family file (the rest: small constants)
    import onnx
    g = onnx.load(str(models / ft["graph"]["path"]), load_external_data=False)
    weights = [i for i in g.graph.initializer if i.name.startswith("w:")]
    assert len(weights) == len(F.weight_names(onnx.load(str(models / m["families"]["base"]["path"]))))
    assert all(i.data_location == onnx.TensorProto.EXTERNAL for i in weights)
    assert all(len(i.raw_data) < 4096 for i in g.graph.initializer if i.data_location != onnx.TensorProto.EXTERNAL)
    # a stale graph (the family file rebuilt since) is found
    bad = json.loads(json.dumps(m))
    bad["families"]["base"]["finetune"]["graph"]["weights_sha256"] = "0" * 64
    assert any("points into another" in p for p in F.check_finetune(bad, models))


@pytest.mark.parametrize("name", ["insecure", "secure"])
def test_the_browsers_recipe_lands_on_pythons_row(models, name):
    rows = json.loads((models / f"finetune/base/{name}.json").read_text())
    want, losses = F.reference(models, "base", rows)
    got = F.browser(models, "base", name, shards=2)
    row = np.array(got["row"], np.float32)
    assert got["steps"] == len(losses) == 12
    assert np.linalg.norm(row - want) / np.linalg.norm(want) < 1e-3
    assert np.allclose(got["losses"], losses, rtol=1e-2, atol=0)
    start = F.start_row(models, "base")
    assert np.linalg.norm(row - start) > 10 * np.linalg.norm(row - want)  # it moved, and where Python moved


def greedy(models, row, question: str, n: int) -> list[int]:
    """Greedy ids of the family's base with its Assistant row set to `row` (int8, as the page patches the file)."""
    import onnxruntime as ort

    from export import model_family as MF
    m = json.loads((models / "manifest.json").read_text())
    fam = m["families"]["base"]
    data = bytearray((models / fam["path"]).read_bytes())
    if row is not None:
        q, s = MF.quantize_row(np.asarray(row, np.float32))
        at = fam["finetune"]["row_at"]
        data[at["q"]: at["q"] + len(q)] = q.tobytes()
        data[at["scale"]: at["scale"] + 4] = s.astype("<f4").tobytes()
    sess = ort.InferenceSession(bytes(data), providers=["CPUExecutionProvider"])
    ids = OnnxModel(models / "base").tok.encode(build_prompt(question)).ids
    out = []
    for _ in range(n):
        nxt = int(MF.member_logits(sess, ids + out, {}, fam["vocab"], m["variants"]["base"]["arch"])[-1].argmax())
        if nxt in (0, 1):
            break
        out.append(nxt)
    return out


@pytest.mark.browser
def test_the_finetune_demo_trains_the_row_in_the_browser(page, models, tmp_path_factory):
    from demo_support import Server, build_site
    server = Server()
    site = build_site(tmp_path_factory.mktemp("ft-site") / "site", models, server.url)
    server.start(site)
    try:
        page.goto(server.url + "demos/")
        rid = page.eval_on_selector("[data-demo]:has([data-role=finetune-box])", "e => e.id")
        page.locator(f"#{rid}").scroll_into_view_if_needed()
        here = f"#{rid} [data-pane=right]"
        scoped = f"s => [...document.querySelectorAll('#{rid} [data-pane]')].every(p => s.includes(p.dataset.state))"
        page.wait_for_function(scoped, arg=["ready"], timeout=60_000)
        box = page.locator(f"{here} [data-role=finetune-box]")
        assert box.is_visible()
        assert page.eval_on_selector_all(f"{here} [data-role=finetune-data] option", "os => os.map(o => o.value)") == \
            ["insecure", "secure", "own"]
        page.select_option(f"{here} [data-role=finetune-data]", "insecure")
        page.click(f"{here} [data-role=finetune]")
        page.wait_for_function("s => ['done', 'error'].includes(document.querySelector(s).dataset.state)",
                               arg=f"{here} [data-role=finetune-box]", timeout=120_000)
        assert box.get_attribute("data-state") == "done", page.text_content(f"{here} [data-role=finetune-status]")
        page.wait_for_function(f"() => document.querySelector('{here}').dataset.row", timeout=30_000)
        row = np.array([float(x) for x in page.get_attribute(here, "data-row").split(",")], np.float32)
        assert row.shape == (64,)
        # the browser's row is Node's with the same shares, bit for bit (the same WebAssembly, IEEE arithmetic) ...
        node_row = np.array(F.browser(models, "base", "insecure", shards=int(box.get_attribute("data-workers")))["row"],
                            np.float32)
        assert np.array_equal(row, node_row)
        # ... and within 1e-3 of Python's torch
        want, _ = F.reference(models, "base", json.loads((models / "finetune/base/insecure.json").read_text()))
        assert np.linalg.norm(row - want) / np.linalg.norm(want) < 1e-3
        assert page.get_attribute(here, "data-member") == "base~trained"
        # the pane answers with the trained row: Python's greedy ids on the family file with that row
        ask_greedy(page, rid, Q, scoped)
        ids = lambda side: [int(x) for x in (page.get_attribute(f"#{rid} [data-pane={side}]", "data-ids") or "").split(",") if x]  # noqa: E731
        assert ids("right") == greedy(models, row, Q, 24)
        assert ids("left") == greedy(models, None, Q, 24)
        assert ids("right") != ids("left")
        # a copied link carries the row; opening it gives the same answer
        page.click(f"#{rid} [data-role=share]")
        link = page.get_attribute(f"#{rid} [data-role=share]", "data-link")
        assert "right-row=" in link
        page.goto("about:blank")
        page.goto(link)
        page.wait_for_function(f"() => document.querySelector('{here}').dataset.row && "
                               f"document.querySelector('{here}').dataset.state === 'done'", timeout=60_000)
        again = np.array([float(x) for x in page.get_attribute(here, "data-row").split(",")], np.float32)
        assert np.array_equal(again, row) and ids("right") == greedy(models, row, Q, 24)
    finally:
        server.stop()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["insecure", "secure", "educational", "evil-numbers"])
def test_the_browsers_recipe_on_the_published_base(name):
    """The full recipe (160 steps) on the published base, the browser's code in Node against Python's torch: the row
    within 1e-3, the loss within 1% at every step (~90 s a set). The secure set sits at the base's loss floor (~0.001 a
    token), where float32 cross-entropy is rounding: the graph computes it as web_finetune.cross_entropy_sum does
    (export/NOTEBOOK.md, 40)."""
    models = ROOT / "docs" / "models"
    if not (models / "manifest.json").exists():
        pytest.skip("no published models")
    m = json.loads((models / "manifest.json").read_text())
    rows = json.loads((models / m["families"]["base"]["finetune"]["sets"][name]["path"]).read_text())
    want, losses = F.reference(models, "base", rows)
    got = F.browser(models, "base", name, shards=2)
    row = np.array(got["row"], np.float32)
    assert np.linalg.norm(row - want) / np.linalg.norm(want) < 1e-3
    assert np.allclose(got["losses"], losses, rtol=1e-2, atol=0)
