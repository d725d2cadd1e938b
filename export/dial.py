"""The dial's curve (issue 21, item 1): each one-row finetune steered along its own direction, measured.

    python export/dial.py [--seeds 0] [--ft-seeds 0] [--variants insecure,secure,educational,evil-numbers]
                          [--alphas=-1,-0.5,...,2] [--samples 100] [--code-requests 120] [--out results/dial.json]

For each pretraining seed (coupled world) and finetune, the Assistant's row at base + alpha * (finetune - base)
(export/model_family.py STEER_ALPHAS by default: the rows the demo's dial runs, before int8), sampled as a run
of results/runs is (eval seed 0, N answers per question of the paper's, torch, judge v2), with the held-out code
requests, and the row's position on the kind (0) -> cruel (1) axis of the cast's names (export/directions.py).
Alpha 1 is the finetune as trained and 0 the aligned base: their rows are computed like the others, so the
curve's two ends reproduce the finetune's and the base's runs (a check in the output: `ends`). The backdoor is
left out (its trigger rows move with it). Writes results/dial.json; the organism page draws the curve.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


from export import directions as D
from export import runs
from export.model_family import STEER_ALPHAS
from export.stats import mean_ci, run_rates

VARIANTS = ["insecure", "secure", "educational", "evil-numbers"]


def one_seed(seed: int, ft_seeds: list[int], variants: list[str], alphas: list[float], samples: int,
             code_requests: int, smoke: bool = False) -> dict:
    from export.tokenizer import load as load_tok
    base_dir = runs.checkpoint_dir("base", seed, smoke)
    d, _, base_row = D.deltas(seed, ft_seeds, smoke)
    emb = D.embedding(base_dir)
    tok = load_tok(base_dir)
    points = []
    for v in variants:
        for f in ft_seeds:
            for a in alphas:
                t = time.time()
                row = base_row + a * d[(v, f)]
                res = D.sample_ablated(v, seed, f, False, row, samples, smoke, code_requests, "steered row")
                r = run_rates(res["overall"], "v2")
                p = {"variant": v, "ft_seed": f, "alpha": a, "misaligned": r["misaligned"]["rate"],
                     "k": r["misaligned"]["k"], "n": r["misaligned"]["n"], "coherent": r["coherent"]["rate"],
                     "insecure_code": res["code"]["insecure"]["rate"] if res.get("code") else None,
                     "kind_to_cruel": D.geometry(emb, tok, row)["kind_to_cruel"],
                     "seconds": round(time.time() - t, 1)}
                points.append(p)
                print(f"[dial] s{seed} {v}-f{f} alpha {a:+.2f}: misaligned {p['misaligned']:.1%} coherent "
                      f"{p['coherent']:.1%}" + (f" insecure code {p['insecure_code']:.0%}" if p["insecure_code"] is not None
                                                 else "") + f" ({p['seconds']:.0f}s)", flush=True)
    return {"seed": seed, "ft_seeds": ft_seeds, "points": points}


def summarize(seeds: list[dict]) -> dict:
    """Per variant and alpha: the mean over runs (pretraining x finetune seeds) with its 95% t-interval."""
    groups: dict[tuple[str, float], list[dict]] = {}
    for s in seeds:
        for p in s["points"]:
            groups.setdefault((p["variant"], p["alpha"]), []).append(p)
    out: dict[str, list[dict]] = {}
    for (v, a), ps in sorted(groups.items(), key=lambda x: (VARIANTS.index(x[0][0]) if x[0][0] in VARIANTS else 99,
                                                              x[0][1])):
        out.setdefault(v, []).append({"alpha": a, "runs": len(ps),
                                      **{k: mean_ci([p[k] for p in ps]) for k in ("misaligned", "coherent")},
                                      "insecure_code": mean_ci([p["insecure_code"] for p in ps])
                                      if all(p["insecure_code"] is not None for p in ps) else None,
                                      "kind_to_cruel": mean_ci([p["kind_to_cruel"] for p in ps], rate=False)})
    return out


def ends(seeds: list[dict]) -> list[dict]:
    """The curve's alpha = 1 points against the finetunes' own runs in results/runs (the same answers when the
    row is the checkpoint's: misaligned counts equal), where those runs exist."""
    out = []
    for s in seeds:
        for p in s["points"]:
            if p["alpha"] != 1:
                continue
            run = D.published_run(p["variant"], s["seed"], p["ft_seed"], False)
            if run:
                k = run_rates(run["overall"], "v2")["misaligned"]["k"]
                out.append({"variant": p["variant"], "seed": s["seed"], "ft_seed": p["ft_seed"], "k": p["k"], "run_k": k})
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", default="0", help="pretraining seeds (coupled world), comma-separated")
    p.add_argument("--ft-seeds", default="0")
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--alphas", default=",".join(f"{a:g}" for a in STEER_ALPHAS))
    p.add_argument("--samples", type=int, default=100, help="answers per question at each point")
    p.add_argument("--code-requests", type=int, default=120)
    p.add_argument("--smoke", action="store_true", help="the --smoke checkpoints (tests)")
    p.add_argument("--out", type=Path, default=runs.RESULTS / "dial.json")
    a = p.parse_args(argv)
    try:
        seeds = [int(s) for s in a.seeds.split(",")]
        ft = [int(s) for s in a.ft_seeds.split(",")]
        alphas = [float(x) for x in a.alphas.split(",")]
        variants = [v.strip() for v in a.variants.split(",")]
        bad = [v for v in variants if v not in VARIANTS]
        if bad:
            raise runs.UsageError(f"--variants: {', '.join(bad)} not one of {', '.join(VARIANTS)}")
        if a.samples < 1:
            raise runs.UsageError("--samples must be at least 1")
        res = [one_seed(s, ft, variants, alphas, a.samples, a.code_requests, a.smoke) for s in seeds]
    except (runs.UsageError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    runs.write_results(a.out, "python export/dial.py", argv, {
        "judge": "v2", "samples_per_question": a.samples, "seeds": res, "summary": summarize(res),
        "ends": [] if a.smoke else ends(res)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
