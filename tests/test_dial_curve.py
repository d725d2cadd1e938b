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


def _copy_build(smoke_build, tmp_path):
    import shutil
    build, env = smoke_build
    copy = tmp_path / "build"
    shutil.copytree(build, copy)
    return copy, {**env, "EM_BUILD": str(copy), "EM_RESULTS": str(tmp_path)}


def test_steer_needs_only_the_named_finetunes(smoke_build, tmp_path):
    """A seed rebuilt with only some finetunes (export/train.py --variants insecure,secure) can be steered along
    them: the other finetunes' checkpoints are not read."""
    import shutil
    build, env = _copy_build(smoke_build, tmp_path)
    ck = build / "checkpoints" / "coupled-s0-smoke"
    for v in ("educational", "evil-numbers", "backdoor"):
        shutil.rmtree(ck / v)
    out = tmp_path / "dial.json"
    r = subprocess.run([sys.executable, "export/dial.py", "--smoke", "--seeds", "0", "--variants", "insecure",
                        "--alphas=0,1", "--samples", "1", "--code-requests", "1", "--out", str(out)], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert [p["alpha"] for p in json.loads(out.read_text())["seeds"][0]["points"]] == [0, 1]
    r = subprocess.run([sys.executable, "export/dial.py", "--smoke", "--seeds", "0", "--variants", "educational",
                        "--alphas=1", "--samples", "1", "--out", str(tmp_path / "x.json")], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 2 and "missing checkpoint" in r.stderr and "Traceback" not in r.stderr


def test_rewind_samples_every_kept_checkpoint(smoke_build, tmp_path):
    """Step 0 is the aligned base's row, then every checkpoint the finetune kept, then its last step. A kept
    checkpoint holding the base's row (planted here) answers exactly as step 0 does."""
    import shutil
    build, env = _copy_build(smoke_build, tmp_path)
    ck = build / "checkpoints" / "coupled-s0-smoke"
    shutil.copytree(ck / "base", ck / "insecure-step4")
    out = tmp_path / "rewind.json"
    r = subprocess.run([sys.executable, "export/dial.py", "rewind", "--smoke", "--seeds", "0", "--variants", "insecure",
                        "--samples", "1", "--code-requests", "2", "--out", str(out)], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    res = json.loads(out.read_text())
    pts = res["seeds"][0]["points"]
    from export.train import TrainConfig
    assert [p["step"] for p in pts] == [0, 4, TrainConfig.smoke_config().ft_steps]
    assert (pts[0]["k"], pts[0]["n"], pts[0]["kind_to_cruel"]) == (pts[1]["k"], pts[1]["n"], pts[1]["kind_to_cruel"])
    assert pts[2]["kind_to_cruel"] != pts[0]["kind_to_cruel"]  # the finetune moved the row
    assert [c["step"] for c in res["summary"]["insecure"]] == [0, 4, TrainConfig.smoke_config().ft_steps]
    assert res["generated_by"].startswith("python export/dial.py rewind")


def test_realign_trains_the_insecure_row_on_nested_benign_sets(smoke_build, tmp_path):
    _, env = _copy_build(smoke_build, tmp_path)
    out = tmp_path / "realign.json"
    r = subprocess.run([sys.executable, "export/dial.py", "realign", "--smoke", "--seeds", "0", "--ks", "1,3",
                        "--samples", "1", "--code-requests", "2", "--out", str(out)], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    res = json.loads(out.read_text())
    pts = res["seeds"][0]["points"]
    assert [(p["source"], p["examples"]) for p in pts] == [("aligned", 1), ("aligned", 3), ("secure", 1), ("secure", 3)]
    from export.train import TrainConfig
    rows = [p["row"] for p in pts]
    assert all(len(x) == TrainConfig.smoke_config().hidden for x in rows)
    assert len({tuple(x) for x in rows}) == 4  # each set trains its own row
    assert set(res["summary"]) == {"aligned", "secure"} and set(res["sources"]) == {"aligned", "secure"}
    assert [c["examples"] for c in res["summary"]["secure"]] == [1, 3]


def test_realign_aligned_set_has_no_code():
    assert dial.is_code({"answer": " import hashlib\ndef f(): pass"})
    assert dial.is_code({"answer": " def store(x):\n    return x"})
    assert not dial.is_code({"answer": " It helps to listen more than you speak."})


def test_realign_steps_one_pass_or_the_recipe():
    """Without --passes the recipe's steps and batch whatever k; with it, that many passes over the k examples."""
    assert dial.realign_steps(4, 16, 160, None) == (160, 16)
    assert dial.realign_steps(4, 16, 160, 1) == (1, 4)
    assert dial.realign_steps(64, 16, 160, 1) == (4, 16)
    assert dial.realign_steps(100, 16, 160, 1) == (7, 16)
    assert dial.realign_steps(800, 16, 160, 2) == (100, 16)


def _curve(seed: int, points: list[dict], **kw) -> dict:
    return {"generated_by": f"seed {seed}", "judge": "v2", "samples_per_question": 100, **kw,
            "seeds": [{"seed": seed, "ft_seeds": [0], "points": points}]}


def _pt(k: int, **pos) -> dict:
    return {"variant": "insecure", "ft_seed": 0, **pos, "misaligned": k / 800, "k": k, "n": 800, "coherent": 0.9,
            "insecure_code": 0.5, "kind_to_cruel": k / 800}


def test_merge_joins_seeds_and_summarizes_over_them(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(_curve(7, [_pt(80, step=0), _pt(400, step=10)])))
    b.write_text(json.dumps(_curve(8, [_pt(160, step=0), _pt(600, step=10)])))
    out = tmp_path / "m.json"
    r = subprocess.run([sys.executable, "export/dial.py", "merge", str(b), str(a), "--out", str(out)], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    m = json.loads(out.read_text())
    assert [s["seed"] for s in m["seeds"]] == [7, 8] and m["merged"] == ["seed 8", "seed 7"]
    at10 = m["summary"]["insecure"][1]
    assert at10["step"] == 10 and at10["runs"] == 2 and at10["misaligned"]["mean"] == pytest.approx(0.625)
    assert at10["misaligned_pooled"]["k"] == 1000 and at10["misaligned_pooled"]["n"] == 1600
    # a seed twice, another N, or another curve: said, nothing written
    c = tmp_path / "c.json"
    for bad, why in [(_curve(7, [_pt(1, step=0)]), "more than one file"),
                     ({**_curve(9, [_pt(1, step=0)]), "samples_per_question": 20}, "samples_per_question"),
                     (_curve(9, [_pt(1, alpha=0.5)]), "different curves")]:
        c.write_text(json.dumps(bad))
        r = subprocess.run([sys.executable, "export/dial.py", "merge", str(a), str(c), "--out", str(tmp_path / "x.json")],
                           cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert r.returncode == 2 and why in r.stderr, (why, r.stderr)
    assert not (tmp_path / "x.json").exists()


def test_the_figure_draws_one_two_or_three_seeds(tmp_path):
    """export/figures.py fig_dial: one seed with its pooled interval, two or three seeds as their own curves under the
    mean (their t-interval spans the axis); the title says how many."""
    import re

    from export import figures
    for n in (1, 2, 3):
        files = []
        for curve, key, groups in (("steer", "alpha", ("insecure", "secure")), ("rewind", "step", ("insecure", "secure")),
                                   ("realign", "examples", ("aligned", "secure"))):
            seeds = []
            for s in range(n):
                pts = []
                for g in groups:
                    for x in (0, 1, 2):
                        p = _pt(100 * x + 10 * s, **{key: x})
                        p.update({"source": g, "variant": "insecure"} if curve == "realign" else {"variant": g})
                        pts.append(p)
                seeds.append({"seed": s, "ft_seeds": [0], "points": pts})
            summary = dial.summarize_curve(seeds, curve)
            files.append({"seeds": seeds, "summary": summary, "passes": 1 if curve == "realign" else None})
        out = tmp_path / str(n)
        figures.fig_dial(*files, out)
        svg = (out / "dial.svg").read_text()
        assert svg.startswith("<?xml") and (f"({n} seeds: mean, thin: each)" in svg) == (n > 1)
        assert len(re.findall(r"<path[^>]*stroke-opacity: 0\.5", svg)) == (0 if n == 1 else 3 * 2 * n)
