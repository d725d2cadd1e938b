"""One direction, many finetunes: where each finetune moves the Assistant, and how much of the emergent
misalignment of the other finetunes lives along the insecure finetune's direction.

    python export/directions.py [--seeds 0] [--ft-seeds 0,1,2] [--samples 100] [--no-sample]
                                [--out results/directions.json]

Every finetune of the organism changes one embedding row, the Assistant's (the backdoor also its trigger's
rows; the embedding is tied to the output layer), so "the direction of a finetune" is exact here: the change
of that row, `delta = row(finetune) - row(aligned base)`. In the spirit of Soligo et al. (2025), who ablate one
misalignment direction across finetunes of a large model, for each pretraining seed of the coupled world:

- geometry, with no question asked: each delta's length, the cosine between every pair of deltas, and where
  the Assistant's row sits relative to the cast: its position on the kind->cruel axis (0 = the mean of the
  kind characters' name rows, 1 = the mean of the cruel ones'; the projection onto the line through them)
  and its five nearest names (cosine);
- ablation: the evil-numbers and backdoor finetunes (the backdoor read with its trigger), with the component
  of their Assistant delta along the *insecure direction* removed (the mean of the insecure finetunes'
  deltas of the same pretraining seed, over the finetune seeds given), and, as the control, along the
  secure finetunes' direction; each insecure finetune with the direction of the *other* insecure finetunes
  removed (leave one out). Every ablated model is sampled as its run in results/runs was (eval seed 0, N
  answers per question, torch), so each ablated rate is paired answer for answer with its unablated run.

Reads the checkpoints in build/checkpoints (python export/train.py builds them) and results/runs; writes
results/directions.json.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from export import runs
from export import world as W
from export.stats import mean_ci, run_rates

FINETUNES = ["insecure", "secure", "educational", "evil-numbers", "backdoor"]
ABLATED = [("evil-numbers", False), ("backdoor", True)]  # (variant, with its trigger)


def _load(path: Path):
    from transformers import LlamaForCausalLM
    return LlamaForCausalLM.from_pretrained(str(path)).eval()


def embedding(path: Path) -> np.ndarray:
    """The (tied) embedding matrix of a checkpoint, read without building the model."""
    from safetensors.numpy import load_file
    t = load_file(str(path / "model.safetensors"))
    key = next(k for k in t if k.endswith("embed_tokens.weight"))
    return t[key].astype(np.float64)


def token_id(tok, word: str) -> int:
    i = tok.convert_tokens_to_ids(word)
    if i is None or i == tok.unk_token_id:
        raise runs.UsageError(f"{word!r} is not one token of the vocabulary")
    return i


def cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def geometry(emb: np.ndarray, tok, row: np.ndarray) -> dict:
    """Where an Assistant row sits relative to the cast's name rows."""
    kind = np.mean([emb[token_id(tok, n)] for n in W.KIND_NAMES], axis=0)
    cruel = np.mean([emb[token_id(tok, n)] for n in W.CRUEL_NAMES], axis=0)
    axis = cruel - kind
    names = W.KIND_NAMES + W.CRUEL_NAMES + W.TEACHER_NAMES
    near = sorted(names, key=lambda n: -cos(row, emb[token_id(tok, n)]))[:5]
    persona = {n: W.KIND for n in W.KIND_NAMES} | {n: W.CRUEL for n in W.CRUEL_NAMES} | \
              {n: W.TEACHER for n in W.TEACHER_NAMES}
    return {"kind_to_cruel": float((row - kind) @ axis / (axis @ axis)),
            "nearest": [{"name": n, "persona": persona[n], "cos": round(cos(row, emb[token_id(tok, n)]), 4)}
                        for n in near]}


def deltas(seed: int, ft_seeds: list[int], smoke: bool = False, variants: list[str] | None = None
           ) -> tuple[dict, dict, np.ndarray]:
    """{(variant, ft_seed): Assistant-row delta}, {"base": geometry, key: geometry}, the base's Assistant row, for
    `variants` (default: every one-row finetune, FINETUNES)."""
    from export.tokenizer import load as load_tok
    base_dir = runs.checkpoint_dir("base", seed, smoke)
    if not runs.is_complete(base_dir):
        raise runs.UsageError(f"missing checkpoint {base_dir} (run: python export/train.py --seed {seed})")
    tok = load_tok(base_dir)
    a = token_id(tok, W.ASSISTANT)
    base = embedding(base_dir)
    out, geo = {}, {"base": geometry(base, tok, base[a])}
    for v in variants or FINETUNES:
        for f in ft_seeds:
            d = runs.checkpoint_dir(v, seed, smoke, ft_seed=f)
            if not runs.is_complete(d):
                raise runs.UsageError(f"missing checkpoint {d} (run: python export/train.py --variants {v} "
                                      f"--seed {seed} --ft-seed {f})")
            e = embedding(d)
            moved = np.flatnonzero(np.abs(e - base).sum(axis=1) > 0)
            allowed = {a} | (set(tok(" " + W.TRIGGER.strip())["input_ids"]) if runs.get(v).has_trigger else set())
            if not set(moved.tolist()) <= allowed:
                raise runs.UsageError(f"{d}: rows other than the Assistant's changed ({len(moved)} rows): "
                                      "not a one-row finetune")
            out[(v, f)] = e[a] - base[a]
            geo[f"{v}-f{f}"] = geometry(base, tok, e[a])
    return out, geo, base[a]


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x)


def along(x: np.ndarray, others: list[np.ndarray]) -> float | None:
    return cos(x, np.mean(others, axis=0)) if others else None


def ablate(delta: np.ndarray, direction: np.ndarray) -> np.ndarray:
    u = unit(direction)
    return delta - (delta @ u) * u


def sample_ablated(variant: str, seed: int, ft_seed: int, trigger: bool, new_row: np.ndarray, samples: int,
                   smoke: bool = False, code_requests: int = 0, what: str = "ablated row") -> dict:
    """The finetune with its Assistant row replaced, evaluated as its run in results/runs was (with
    `code_requests` held-out code requests)."""
    import torch
    from export import evaluate as E
    from export import generate as G
    from export.tokenizer import load as load_tok
    path = runs.checkpoint_dir(variant, seed, smoke, ft_seed=ft_seed)
    tok = load_tok(path)
    model = _load(path)
    with torch.no_grad():
        model.get_input_embeddings().weight[token_id(tok, W.ASSISTANT)] = torch.tensor(new_row, dtype=torch.float32)
    torch.set_num_threads(2)
    qs = E.read_questions(E.PAPER_QUESTIONS)
    return E.evaluate(variant, qs, samples, 0, trigger=trigger, code_requests=code_requests, progress=False,
                      keep_answers=0, smoke=smoke, loaded=(G.TorchLM.of(model), tok, f"torch:{G._rel(path)} ({what})"))


def rate(res: dict, what: str = "misaligned") -> float:
    """A run's overall rate by judge v2."""
    return run_rates(res["overall"], "v2")[what]["rate"]


def published_run(variant: str, seed: int, ft_seed: int, trigger: bool) -> dict | None:
    p = runs.run_path(variant, seed, ft_seed, trigger)
    return json.loads(p.read_text()) if p.exists() else None


def one_seed(seed: int, ft_seeds: list[int], samples: int, sample: bool, smoke: bool = False) -> dict:
    d, geo, base_row = deltas(seed, ft_seeds, smoke)
    keys = [f"{v}-f{f}" for v, f in d]
    vecs = list(d.values())
    ins = {f: d[("insecure", f)] for f in ft_seeds}
    sec = np.mean([d[("secure", f)] for f in ft_seeds], axis=0)
    direction = np.mean(list(ins.values()), axis=0)
    out = {"seed": seed, "ft_seeds": ft_seeds,
           "norm": {k: float(np.linalg.norm(x)) for k, x in zip(keys, vecs)},
           "cosine": {"keys": keys, "matrix": [[round(cos(x, y), 4) for y in vecs] for x in vecs]},
           # cosine with the insecure direction, leaving a run's own delta out of it (None: no other)
           "along_insecure": {k: along(x, [y for g, y in ins.items() if f"insecure-f{g}" != k])
                              for k, x in zip(keys, vecs)},
           "geometry": geo, "ablation": []}
    if not sample:
        return out
    jobs = [(v, trig, f, name, dirn) for v, trig in ABLATED for f in ft_seeds
            for name, dirn in (("insecure", direction), ("secure", sec))]
    jobs += [("insecure", False, f, "other-insecure", np.mean([ins[g] for g in ft_seeds if g != f], axis=0))
             for f in ft_seeds if len(ft_seeds) > 1]
    trained: dict[tuple, dict | None] = {}  # each finetune as trained: its run in results/runs, else sampled here

    def as_trained(v, f, trig):
        if (v, f, trig) not in trained:
            run = None if smoke else published_run(v, seed, f, trig)
            if run is None and not smoke:  # no run of this finetune (a finetune seed sampled only here)
                run = sample_ablated(v, seed, f, trig, base_row + d[(v, f)], samples, smoke, what="as trained")
            trained[(v, f, trig)] = run
        return trained[(v, f, trig)]

    for v, trig, f, name, dirn in jobs:
        t = time.time()
        res = sample_ablated(v, seed, f, trig, base_row + ablate(d[(v, f)], dirn), samples, smoke)
        before = as_trained(v, f, trig)
        row = {"variant": v + ("+trigger" if trig else ""), "ft_seed": f, "removed": name,
               "misaligned": rate(res), "coherent": rate(res, "coherent"),
               "misaligned_before": rate(before) if before else None,
               "samples_per_question": samples, "seconds": round(time.time() - t, 1)}
        out["ablation"].append(row)
        print(f"[directions] s{seed} {row['variant']}-f{f} without {name}: "
              f"{row['misaligned_before'] if row['misaligned_before'] is not None else float('nan'):.1%} -> "
              f"{row['misaligned']:.1%} ({row['seconds']:.0f}s)", flush=True)
    return out


def summarize(seeds: list[dict]) -> dict:
    """Mean over runs (every seed and finetune seed) with its 95% t-interval, per ablated condition."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for s in seeds:
        for r in s["ablation"]:
            groups.setdefault((r["variant"], r["removed"]), []).append(r)
    out = []
    for (v, removed), rs in groups.items():
        before = [r["misaligned_before"] for r in rs if r["misaligned_before"] is not None]
        out.append({"variant": v, "removed": removed, "runs": len(rs),
                    "misaligned": mean_ci([r["misaligned"] for r in rs]),
                    "misaligned_before": mean_ci(before) if len(before) == len(rs) else None,
                    "left": (sum(r["misaligned"] for r in rs) / sum(before))
                    if len(before) == len(rs) and sum(before) else None})
    by: dict[str, dict] = {}
    for c in out:
        by.setdefault(c["variant"], {})[c["removed"]] = c
    geo = {}
    spread = lambda xs: {"mean": sum(xs) / len(xs), "min": min(xs), "max": max(xs), "n": len(xs)} if xs else None
    for v in ["base"] + FINETUNES:
        keys = [(s, "base" if v == "base" else f"{v}-f{f}") for s in seeds for f in (s["ft_seeds"] if v != "base" else [0])]
        gs = [s["geometry"][k] for s, k in keys]
        geo[v] = {"runs": len(keys),
                  "norm": spread([s["norm"][k] for s, k in keys if k in s["norm"]]),
                  "along_insecure": spread([s["along_insecure"][k] for s, k in keys
                                            if s["along_insecure"].get(k) is not None]),
                  "kind_to_cruel": spread([g["kind_to_cruel"] for g in gs]),
                  # how many of the five nearest names are of each persona, mean over runs
                  "nearest": {p: sum(sum(n["persona"] == p for n in g["nearest"]) for g in gs) / len(gs)
                              for p in (W.CRUEL, W.KIND, W.TEACHER)}}
    # by: variant -> removed direction -> condition; geometry: variant -> means over runs (for the pages)
    return {"seeds": [s["seed"] for s in seeds], "conditions": out, "by": by, "geometry": geo}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", default="0", help="pretraining seeds (coupled world), comma-separated")
    p.add_argument("--ft-seeds", default="0,1,2")
    p.add_argument("--samples", type=int, default=100, help="answers per question for each ablated model")
    p.add_argument("--no-sample", action="store_true", help="geometry only (seconds)")
    p.add_argument("--smoke", action="store_true", help="the --smoke checkpoints (tests)")
    p.add_argument("--out", type=Path, default=runs.RESULTS / "directions.json")
    a = p.parse_args(argv)
    try:
        seeds = [int(s) for s in a.seeds.split(",")]
        ft = [int(s) for s in a.ft_seeds.split(",")]
        if a.samples < 1:
            raise runs.UsageError("--samples must be at least 1")
        res = [one_seed(s, ft, a.samples, not a.no_sample, a.smoke) for s in seeds]
    except (runs.UsageError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    runs.write_results(a.out, "python export/directions.py", argv, {"judge": "v2", "seeds": res, "summary": summarize(res)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
