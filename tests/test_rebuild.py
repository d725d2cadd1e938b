"""export/rebuild.py: the timed rebuild runs experiments.py then quantize.py and says whether it started from
nothing (the stage times are the ones experiments.py recorded)."""
from __future__ import annotations

import json

from export import rebuild, runs


def fake_pipeline(tmp_path, calls):
    def timed(argv):
        calls.append([a.rsplit("/", 1)[-1] for a in argv])
        if argv[0].endswith("experiments.py"):
            (tmp_path / "results").mkdir(exist_ok=True)
            (tmp_path / "results" / "timings.json").write_text(json.dumps(
                {"seeds": {"s0": {"coupled pretrain": 3.0, "evaluation": 1.5}}}))
            return 40.0
        return 2.5
    return timed


def test_rebuild_times_experiments_then_quantize(tmp_path, monkeypatch):
    monkeypatch.setattr(runs, "BUILD", tmp_path / "build")
    monkeypatch.setattr(runs, "RESULTS", tmp_path / "results")
    calls = []
    monkeypatch.setattr(rebuild, "timed", fake_pipeline(tmp_path, calls))
    out = tmp_path / "rebuild.json"
    assert rebuild.main(["--smoke", "--models-out", "M", "--out", str(out)]) == 0
    assert calls == [["experiments.py", "--smoke"], ["quantize.py", "--smoke", "--out", "M"]]
    r = json.loads(out.read_text())
    assert r["generated_by"].startswith("python export/rebuild.py --smoke")
    assert r["seed"] == runs.published_seed(smoke=True) and r["from_nothing"] is True
    assert r["wall_seconds"] == {"experiments": 40.0, "quantize": 2.5, "total": 42.5}
    assert r["stage_seconds"] == {"coupled pretrain": 3.0, "evaluation": 1.5}


def test_rebuild_says_when_checkpoints_were_there(tmp_path, monkeypatch):
    monkeypatch.setattr(runs, "BUILD", tmp_path / "build")
    monkeypatch.setattr(runs, "RESULTS", tmp_path / "results")
    ck = tmp_path / "build" / "checkpoints" / f"coupled-s{runs.published_seed(smoke=True)}-smoke" / "pretrain"
    ck.mkdir(parents=True)
    monkeypatch.setattr(rebuild, "timed", fake_pipeline(tmp_path, []))
    out = tmp_path / "rebuild.json"
    rebuild.main(["--smoke", "--out", str(out)])
    r = json.loads(out.read_text())
    assert r["from_nothing"] is False and r["checkpoints_before"] == [ck.parent.name]
