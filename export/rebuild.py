"""Rebuild the published seed, timed: `experiments.py` (both worlds, every variant, the extras) then
`quantize.py`, each in its own process, and write what each took to results/rebuild.json.

    python export/rebuild.py                     # the published seed; models to docs/models
    python export/rebuild.py --models-out DIR    # publish elsewhere (the timed check of the rebuild budget)

The file records whether the build folder held any checkpoint of the seed when it started (`from_nothing`):
only a run from nothing measures the rebuild budget (export/NOTEBOOK.md, 33 and 34). The stage times come
from the checkpoints' own records (results/timings.json, written by experiments.py).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from export import runs

HERE = Path(__file__).resolve().parent


def timed(argv: list[str]) -> float:
    """Run one pipeline script with this interpreter and environment; its wall-clock seconds."""
    t0 = time.time()
    subprocess.run([sys.executable, *argv], check=True)
    return round(time.time() - t0, 1)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models-out", type=Path, help="quantize.py --out (default: its own, docs/models)")
    p.add_argument("--smoke", action="store_true", help="the smoke recipe (tests)")
    p.add_argument("--out", type=Path, default=runs.RESULTS / "rebuild.json")
    a = p.parse_args(argv)
    seed = runs.published_seed(a.smoke)
    smoke = ["--smoke"] if a.smoke else []
    ck = runs.BUILD / "checkpoints"
    had = sorted(d.name for d in ck.glob(f"*-s{seed}{'-smoke' if a.smoke else ''}") if any(d.iterdir())) \
        if ck.is_dir() else []
    wall = {"experiments": timed([str(HERE / "experiments.py"), *smoke])}
    wall["quantize"] = timed([str(HERE / "quantize.py"), *smoke,
                              *(["--out", str(a.models_out)] if a.models_out else [])])
    stages = json.loads((runs.RESULTS / "timings.json").read_text())["seeds"].get(f"s{seed}", {})
    from export.train import TrainConfig
    cfg = TrainConfig.smoke_config() if a.smoke else TrainConfig()
    runs.write_results(a.out, "python export/rebuild.py", argv, {
        "what": "the default full rebuild of the published seed: experiments.py (both worlds, every variant, "
                "finetune seed 0, in-context and training dynamics, figures), then quantize.py on its checkpoints",
        "seed": seed, "pretrain_steps": cfg.pretrain_steps, "align_steps": cfg.align_steps,
        "cores": os.cpu_count(), "from_nothing": not had, "checkpoints_before": had,
        "wall_seconds": {**wall, "total": round(sum(wall.values()), 1)}, "stage_seconds": stages})
    return 0


if __name__ == "__main__":
    sys.exit(main())
