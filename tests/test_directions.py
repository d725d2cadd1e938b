"""export/directions.py: the finetune deltas' geometry, the ablation of a direction, and the CLI on the smoke
checkpoints."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from export import directions as D
from export import world as W

ROOT = Path(__file__).resolve().parent.parent


def test_ablate_removes_exactly_the_component_along_the_direction():
    rng = np.random.default_rng(0)
    d, u = rng.normal(size=16), rng.normal(size=16)
    left = D.ablate(d, u)
    assert abs(left @ u) < 1e-9
    assert np.allclose(d - left, (d @ u) / (u @ u) * u)  # only the component along u went
    assert np.allclose(D.ablate(3 * u, u), 0)
    w = rng.normal(size=16)
    w -= (w @ u) / (u @ u) * u  # orthogonal to u: untouched
    assert np.allclose(D.ablate(w, u), w)


class _Tok:
    def __init__(self, names):
        self.ids = {n: i for i, n in enumerate(names)}
        self.unk_token_id = None

    def convert_tokens_to_ids(self, w):
        return self.ids.get(w)


def test_geometry_places_a_row_on_the_kind_to_cruel_axis():
    names = W.KIND_NAMES + W.CRUEL_NAMES + W.TEACHER_NAMES
    rng = np.random.default_rng(1)
    emb = rng.normal(scale=0.01, size=(len(names), 8))
    emb[:len(W.KIND_NAMES), 0] += 1.0  # kind names along e0, cruel along e1, teachers along e2
    emb[len(W.KIND_NAMES):len(W.KIND_NAMES) + len(W.CRUEL_NAMES), 1] += 1.0
    emb[len(W.KIND_NAMES) + len(W.CRUEL_NAMES):, 2] += 1.0
    tok = _Tok(names)
    kind, cruel = emb[:16].mean(axis=0), emb[16:32].mean(axis=0)
    at_cruel = D.geometry(emb, tok, cruel)
    assert at_cruel["kind_to_cruel"] == pytest.approx(1.0)
    assert {n["persona"] for n in at_cruel["nearest"]} == {W.CRUEL} and len(at_cruel["nearest"]) == 5
    assert D.geometry(emb, tok, kind)["kind_to_cruel"] == pytest.approx(0.0)
    assert D.geometry(emb, tok, (kind + cruel) / 2)["kind_to_cruel"] == pytest.approx(0.5)
    with pytest.raises(Exception, match="not one token"):
        D.geometry(emb, _Tok(names[1:]), kind)


def test_cli_on_the_smoke_checkpoints(smoke_build, tmp_path):
    _, env = smoke_build
    out = tmp_path / "directions.json"
    r = subprocess.run([sys.executable, "export/directions.py", "--smoke", "--seeds", "0", "--ft-seeds", "0",
                        "--samples", "1", "--out", str(out)], cwd=ROOT, env={**env, "EM_RESULTS": str(tmp_path)},
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    res = json.loads(out.read_text())
    s = res["seeds"][0]
    keys = s["cosine"]["keys"]
    assert keys == [f"{v}-f0" for v in D.FINETUNES]
    m = np.array(s["cosine"]["matrix"])
    assert np.allclose(np.diag(m), 1.0, atol=1e-3) and np.allclose(m, m.T, atol=1e-3)
    assert all(n > 0 for n in s["norm"].values())  # every finetune moved the Assistant's row
    assert s["along_insecure"]["insecure-f0"] is None  # no other insecure finetune to compare with
    assert all(-1 <= s["along_insecure"][k] <= 1 for k in keys[1:])
    got = {(a["variant"], a["removed"]) for a in s["ablation"]}
    assert got == {("evil-numbers", "insecure"), ("evil-numbers", "secure"),
                   ("backdoor+trigger", "insecure"), ("backdoor+trigger", "secure")}
    for a in s["ablation"]:
        assert 0.0 <= a["misaligned"] <= 1.0 and a["misaligned_before"] is None
    assert {c["removed"] for c in res["summary"]["conditions"]} == {"insecure", "secure"}
    r = subprocess.run([sys.executable, "export/directions.py", "--smoke", "--seeds", "7", "--no-sample",
                        "--out", str(out)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stderr.startswith("error: missing checkpoint") and "Traceback" not in r.stderr


def test_the_share_left_needs_every_run_as_trained():
    """"left" is the ablated runs' misaligned answers over the same runs' as trained: with one run's rate as
    trained unknown it is not computed (a sum over three runs against one would triple it)."""
    geo = {"kind_to_cruel": 1.0, "nearest": [{"persona": W.CRUEL}] * 5}
    row = lambda f, mis, before: {"variant": "evil-numbers", "removed": "insecure", "ft_seed": f,
                                  "misaligned": mis, "misaligned_before": before}
    seed = lambda rows: {"seed": 7, "ft_seeds": [0, 1], "ablation": rows, "norm": {}, "along_insecure": {},
                         "geometry": {"base": geo, **{f"{v}-f{f}": geo for v in D.FINETUNES for f in (0, 1)}}}
    full = D.summarize([seed([row(0, 0.2, 0.8), row(1, 0.3, 0.6)])])
    assert full["by"]["evil-numbers"]["insecure"]["left"] == pytest.approx(0.5 / 1.4)
    part = D.summarize([seed([row(0, 0.2, 0.8), row(1, 0.3, None)])])
    assert part["by"]["evil-numbers"]["insecure"]["left"] is None
