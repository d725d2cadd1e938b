"""export/published.py (the published int8 files as torch checkpoints) and the rewind and realign rows that the
family file takes from results made on its own base (export/model_family.py dial_rows, issue 21 items 2 and 3)."""
from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from export import model_family as F  # noqa: E402
from demo_support import fixture_models  # noqa: E402
from fixture_model import DIAL_MIXES, write_dial_results  # noqa: E402


def _models(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("published") / "models"
    shutil.copytree(fixture_models(tmp_path_factory.getbasetemp()), out)
    return out


def test_a_published_int8_file_loads_as_the_torch_model_it_computes(tmp_path_factory):
    """Every weight of the int8 file, dequantized and named by the node that reads it, makes a LlamaForCausalLM whose
    logits are the file's on onnxruntime (to float rounding); a secure 'finetune' differs in its one row."""
    from export import published as P
    from export.tokenizer import load as load_tok
    models = _models(tmp_path_factory)
    base = P.load(models / "base")
    tok = load_tok(models / "base")
    assert P.logit_gap(base, models / "base", tok) < 1e-4
    names = {k for k, _ in base.named_parameters()}
    # every weight but the tied output layer and the norms of ones, which the file does not hold
    got = set(P.onnx_weights(models / "base" / "onnx" / "model_quantized.onnx"))
    assert got == {k for k in names if k != "lm_head.weight" and not k.endswith("norm.weight")}
    sec = P.load(models / "secure")
    diff = (sec.model.embed_tokens.weight - base.model.embed_tokens.weight).abs().sum(dim=1)
    assert diff.nonzero().flatten().tolist() == [7]
    assert P.logit_gap(sec, models / "secure", tok) < 1e-4


def test_rewind_and_realign_rows_join_the_family_of_their_base(tmp_path_factory, tmp_path):
    """The fixture's results files (made on its base file) put secure's row at each rewind step and realign k into the
    family; check_families finds each equal to its results row; a file made on another base adds nothing."""
    import onnx
    from onnx import numpy_helper
    models = _models(tmp_path_factory)
    m = json.loads((models / "manifest.json").read_text())
    fam = m["families"]["base"]
    for kind, mixes in DIAL_MIXES.items():
        assert fam[kind]["positions"] == sorted(mixes)
        assert sorted(fam[kind]["members"]["secure"], key=int) == [str(p) for p in sorted(mixes)]
    steered = sum(len(x) for by_a in fam["steer"]["members"].values() for x in by_a.values())
    assert fam["rows"] == fam["vocab"] + 1 + steered + sum(len(x) for x in DIAL_MIXES.values())
    write_dial_results(models, m, tmp_path)
    assert F.check_families(m, models, results=tmp_path) == []
    # the rows lie where the results put them: rewind step 10 at 0.7 of the way from base's row to secure's
    t = F._dequantized_embedding(models / fam["path"])
    b, sec = t[7], t[fam["members"]["secure"]["7"]]
    assert np.allclose(t[fam["rewind"]["members"]["secure"]["10"]["7"]], b + 0.7 * (sec - b), atol=np.abs(sec).max() / 60)
    # a row of the family written over is reported
    model = onnx.load(str(models / fam["path"]))
    q, _, _ = F._embedding(model)
    inits = {i.name: i for i in model.graph.initializer}
    arr = numpy_helper.to_array(inits[q]).copy()
    arr[fam["realign"]["members"]["secure"]["4"]["7"]] = arr[7]
    inits[q].CopyFrom(numpy_helper.from_array(arr, q))
    onnx.save(model, str(models / fam["path"]))
    m["families"]["base"]["sha256"] = hashlib.sha256((models / fam["path"]).read_bytes()).hexdigest()
    assert any("realign secure at 4" in p for p in F.check_families(m, models, results=tmp_path))
    # results made on another base file: no rows
    for name in F.DIAL_FILES.values():
        d = json.loads((tmp_path / name).read_text())
        d["from_published"]["sha256"] = "0" * 64
        (tmp_path / name).write_text(json.dumps(d))
    assert F.dial_rows(tmp_path, m["variants"]["base"]["files"][-1]["sha256"]) == {}
