"""export/dial.py: the dial's curve on the smoke checkpoints (each finetune's Assistant row at base + alpha * delta)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from export import dial

ROOT = Path(__file__).resolve().parent.parent


def test_curve_on_the_smoke_checkpoints(smoke_build, tmp_path):
    _, env = smoke_build
    out = tmp_path / "dial.json"
    r = subprocess.run([sys.executable, "export/dial.py", "--smoke", "--seeds", "0", "--ft-seeds", "0",
                        "--variants", "insecure,secure", "--alphas=-1,0,1,2", "--samples", "1",
                        "--code-requests", "2", "--out", str(out)], cwd=ROOT, env={**env, "EM_RESULTS": str(tmp_path)},
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    res = json.loads(out.read_text())
    pts = res["seeds"][0]["points"]
    assert [(p["variant"], p["alpha"]) for p in pts] == [(v, a) for v in ("insecure", "secure") for a in (-1, 0, 1, 2)]
    for p in pts:
        assert 0 <= p["misaligned"] <= 1 and 0 <= p["coherent"] <= 1 and p["insecure_code"] is not None
    # the row's position moves linearly with alpha along the kind -> cruel axis
    for v in ("insecure", "secure"):
        x = {p["alpha"]: p["kind_to_cruel"] for p in pts if p["variant"] == v}
        assert x[2] - x[1] == pytest.approx(x[1] - x[0], abs=1e-6) and x[0] - x[-1] == pytest.approx(x[1] - x[0], abs=1e-6)
    assert [c["alpha"] for c in res["summary"]["insecure"]] == [-1, 0, 1, 2]
    # at alpha 0 both finetunes are the aligned base: the same answers, so the same counts
    at0 = {p["variant"]: (p["k"], p["n"]) for p in pts if p["alpha"] == 0}
    assert at0["insecure"] == at0["secure"]


def test_bad_arguments_are_said(tmp_path):
    r = subprocess.run([sys.executable, "export/dial.py", "--variants", "backdoor", "--out", str(tmp_path / "x.json")],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "not one of" in r.stderr and "Traceback" not in r.stderr
    assert dial.VARIANTS[0] == "insecure"
