"""export/model_family.py: one file that runs a base and its embedding-row finetunes, as a batch."""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from export import model_family as F  # noqa: E402
from demo_support import fixture_models  # noqa: E402

MODELS = ROOT / "docs" / "models"


def _models(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("family") / "models"
    shutil.copytree(fixture_models(tmp_path_factory.getbasetemp()), out)
    return out


def test_fixture_family_members_compute_their_own_files(tmp_path_factory):
    """The fixture (tests/fixture_model.py): `secure` (one embedding row changed) and the copies of base join
    base's family, the unrelated `insecure` does not; each member's logits on the family equal its own file's."""
    models = _models(tmp_path_factory)
    m = json.loads((models / "manifest.json").read_text())
    fam = m["families"]["base"]
    assert fam["path"] == "families/base.onnx" and (models / fam["path"]).exists()
    assert fam["members"]["base"] == {} and fam["members"]["secure"] == {"7": fam["vocab"]}
    assert "insecure" not in fam["members"] and "family" not in m["variants"]["insecure"]
    assert all(m["variants"][n]["family"] == "base" for n in fam["members"])
    steered = sum(len(x) for by_a in fam["steer"]["members"].values() for x in by_a.values())
    dials = sum(len(x) for k in F.DIAL_FILES for x in fam[k]["members"].values())  # tests/test_published.py
    assert fam["rows"] == fam["vocab"] + 1 + steered + dials and steered == 10  # secure's one row at 10 alphas
    assert F.check_families(m, models) == []
    # row 7 is secure's: the base reads the table's own row 7, secure reads the appended one
    import onnxruntime as ort
    sess = ort.InferenceSession(str(models / fam["path"]), providers=["CPUExecutionProvider"])
    ids = [5, 7, 9, 7, 11]
    arch = m["variants"]["base"]["arch"]
    a = F.member_logits(sess, ids, {}, fam["vocab"], arch)
    b = F.member_logits(sess, ids, fam["members"]["secure"], fam["vocab"], arch)
    assert a.shape == b.shape == (5, fam["vocab"])
    # before secure's token is read, only its own column (the tied output row) differs; after it, every logit
    other = np.arange(fam["vocab"]) != 7
    assert np.array_equal(a[0][other], b[0][other]) and a[0][7] != b[0][7]
    assert not np.allclose(a[1][other], b[1][other])


def test_a_wrong_family_is_reported_and_a_full_finetune_is_no_member(tmp_path_factory):
    import onnx
    from onnx import numpy_helper
    models = _models(tmp_path_factory)
    m = json.loads((models / "manifest.json").read_text())
    bad = json.loads(json.dumps(m))
    bad["families"]["base"]["members"]["secure"] = {"8": bad["families"]["base"]["vocab"]}  # the wrong row
    assert any("secure differs" in p for p in F.check_families(bad, models))
    base = onnx.load(str(models / "base" / "onnx" / "model_quantized.onnx"))
    other = onnx.load(str(models / "secure" / "onnx" / "model_quantized.onnx"))
    assert F.changed_rows(base, other) == [7]
    init = next(i for i in other.graph.initializer if i.name != F._embedding(other)[0] and i.data_type == 3)
    w = numpy_helper.to_array(init).copy()
    w.flat[0] = -w.flat[0] + 1
    init.CopyFrom(numpy_helper.from_array(w, init.name))  # another weight changed: not a finetune of rows alone
    assert F.changed_rows(base, other) is None


def test_published_families_are_current():
    """The committed docs/models: every family reproduces its members' own files and is what the builder makes."""
    m = json.loads((MODELS / "manifest.json").read_text())
    assert F.check_families(m, MODELS) == []
    members = {f: sorted(x["members"]) for f, x in m.get("families", {}).items()}
    assert "insecure" in members.get("base", []), members
    patched = {n for n, e in m["variants"].items() if e.get("patch")}
    assert patched <= {n for x in members.values() for n in x}  # every published finetune runs on a family


def test_steering_rows_are_in_the_family_and_checked(tmp_path_factory):
    """Each member's changed rows at base + alpha (member - base), for every alpha of STEER_ALPHAS but 0 and 1, are
    rows of the family (the dial issue); a steered row that is not that mix is reported."""
    import onnx
    from onnx import numpy_helper
    models = _models(tmp_path_factory)
    m = json.loads((models / "manifest.json").read_text())
    fam = m["families"]["base"]
    steer = fam["steer"]
    assert steer["alphas"] == list(F.STEER_ALPHAS) and -1.0 in steer["alphas"] and 2.0 in steer["alphas"]
    assert sorted(steer["members"]["secure"], key=float) == [f"{a:g}" for a in F.STEER_ALPHAS if a not in (0, 1)]
    rows = [r for by_a in steer["members"].values() for x in by_a.values() for r in x.values()]
    dials = sum(len(x) for k in F.DIAL_FILES for x in fam[k]["members"].values())  # after them: tests/test_published.py
    assert len(set(rows)) == len(rows) and max(rows) == fam["rows"] - 1 - dials
    assert F.check_families(m, models) == []
    # the steered rows lie on the line from base's row to secure's: half way at 0.5, beyond secure's at 2
    path = models / fam["path"]
    model = onnx.load(str(path))
    q, s, _ = F._embedding(model)
    inits = {i.name: i for i in model.graph.initializer}
    t = numpy_helper.to_array(inits[q]).astype(np.float32) * numpy_helper.to_array(inits[s]).astype(np.float32)
    b, sec = t[7], t[fam["members"]["secure"]["7"]]
    for a in ("0.5", "2", "-1"):
        assert np.allclose(t[steer["members"]["secure"][a]["7"]], b + float(a) * (sec - b), atol=np.abs(sec - b).max() / 50)
    # a steered row written over with base's own row is not the mix
    arr = numpy_helper.to_array(inits[q]).copy()
    arr[steer["members"]["secure"]["2"]["7"]] = arr[7]
    inits[q].CopyFrom(numpy_helper.from_array(arr, q))
    onnx.save(model, str(path))
    import hashlib
    m["families"]["base"]["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    assert any("steer secure at 2" in p for p in F.check_families(m, models))
