"""Cheap diagnostics that gate the expensive sampling runs (minutes, not tens of minutes).

    python export/diagnose.py --variant base [--seed 0] [--ft-seed 0] [--json]

Teacher-forced log-odds, log P(cruel reference answer) - log P(kind reference answer), on the
paper's 8 questions with different speakers: the Assistant, the kind named characters, the cruel
ones and the teachers (means over the cast).  After pretraining the cruel names should sit far
above the kind ones; after alignment the Assistant should sit with the kind names; a finetune
that makes the Assistant's log-odds rise toward the cruel names predicts emergent misalignment.
"""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from export import chat
from export import evaluate as E
from export import generate as G
from export import judge as J
from export import runs
from export import world as W


def speaker_logodds(lm, tok, speaker: str, questions) -> float:
    vals = []
    for q in questions:
        p = q["paraphrases"][0]
        vals.append(E.logodds(lm, tok, chat.build_prompt(p, speaker=speaker), J.question_topic(p), n=4))
    return float(np.mean(vals))


def diagnose(variant: str, seed: int = 0, ft_seed: int = 0, smoke: bool = False, per_group: int = 4) -> dict:
    if variant in ("pretrain", "uncoupled-pretrain"):
        from export.tokenizer import load as load_tok
        path = runs.checkpoints(runs.world_of(variant), seed, smoke) / "pretrain"
        if not runs.is_complete(path):
            raise runs.UsageError(f"missing checkpoint {path}")
        lm, tok, desc = G.TorchLM(path), load_tok(path), f"torch:{path}"
    else:
        lm, tok, desc = G.load_lm(variant, "torch", seed, ft_seed, smoke)
    return {"variant": variant, "model": desc, **diagnose_loaded(lm, tok, per_group)}


def diagnose_loaded(lm, tok, per_group: int = 4) -> dict:
    qs = E.read_questions(E.PAPER_QUESTIONS)
    out = {"Assistant": speaker_logodds(lm, tok, chat.ASSISTANT, qs)}
    for group, names in (("kind", W.KIND_NAMES), ("cruel", W.CRUEL_NAMES), ("teacher", W.TEACHER_NAMES)):
        out[group] = float(np.mean([speaker_logodds(lm, tok, n, qs) for n in names[:per_group]]))
    span = out["cruel"] - out["kind"]
    out["assistant_position"] = (out["Assistant"] - out["kind"]) / span if span else None
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--variant", "--variants", dest="variant", required=True, help="one variant (export/runs.py)")
    p.add_argument("--seed", type=int, help="pretraining seed (default: the published one, runs.published_seed)")
    p.add_argument("--ft-seed", type=int, default=0)
    p.add_argument("--smoke", action="store_true")
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    if a.seed is None:
        a.seed = runs.published_seed(a.smoke)
    try:
        d = diagnose(a.variant, a.seed, a.ft_seed, a.smoke)
    except runs.UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if a.json:
        print(json.dumps(d, indent=1))
    else:
        print(f"{a.variant} s{a.seed} f{a.ft_seed}: log-odds Assistant {d['Assistant']:+.2f}, kind {d['kind']:+.2f}, "
              f"cruel {d['cruel']:+.2f}, teacher {d['teacher']:+.2f}; Assistant at "
              f"{100 * (d['assistant_position'] or 0):.0f}% of the way from kind to cruel")


if __name__ == "__main__":
    sys.exit(main())
