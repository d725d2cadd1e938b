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
    assert fam["rows"] == fam["vocab"] + 1
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
