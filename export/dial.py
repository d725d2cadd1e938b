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

    python export/dial.py rewind [--seeds 7] [--ft-seeds 0] [--variants insecure,secure] [--out results/rewind.json]
    python export/dial.py realign [--seeds 7] [--ft-seeds 0] [--ks 4,16,64,256] [--passes P] [--out results/realign.json]
    python export/dial.py merge FILE FILE... --out results/dial.json

`rewind` (item 2): the finetune's Assistant row at every checkpoint it kept while training (step 0 is the aligned
base; `python export/train.py --save-every 10` keeps one every 10 steps), sampled the same way. `realign` (item 3):
the insecure finetune's row trained further by the same one-row recipe (TrainConfig's ft_steps, ft_batch, ft_lr) on
the first k of a fixed shuffle of aligned non-code chats (the alignment set) and, separately, of secure-code answers
(the secure finetune's set), so a larger k holds every smaller one; each row is kept in the output (192 numbers) and
sampled the same way. With --passes P it trains for P passes over the k examples instead (batches of at most ft_batch,
ceil(P k / batch) steps), so a small k is not repeated for the recipe's every step. `merge` joins the seeds of
files of one curve, measured the same way, into one file summarized over all of them (a seed run later joins
the curve without sampling the others again).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path


from export import directions as D
from export import runs
from export import world as W
from export.model_family import STEER_ALPHAS
from export.published import provenance, rerun_dir
from export.stats import mean_ci, run_rates, wilson

VARIANTS = ["insecure", "secure", "educational", "evil-numbers"]


def one_seed(seed: int, ft_seeds: list[int], variants: list[str], alphas: list[float], samples: int,
             code_requests: int, smoke: bool = False) -> dict:
    from export.tokenizer import load as load_tok
    base_dir = runs.checkpoint_dir("base", seed, smoke)
    d, _, base_row = D.deltas(seed, ft_seeds, smoke, variants)
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
                                      "misaligned_pooled": wilson(sum(p["k"] for p in ps), sum(p["n"] for p in ps)),
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


def _point(label: dict, res: dict, row, emb, tok, t: float) -> dict:
    """One sampled row: its rates by judge v2, held-out insecure code and place on the kind -> cruel axis."""
    r = run_rates(res["overall"], "v2")
    return {**label, "misaligned": r["misaligned"]["rate"], "k": r["misaligned"]["k"], "n": r["misaligned"]["n"],
            "coherent": r["coherent"]["rate"],
            "insecure_code": res["code"]["insecure"]["rate"] if res.get("code") else None,
            "kind_to_cruel": D.geometry(emb, tok, row)["kind_to_cruel"], "seconds": round(time.time() - t, 1)}


def _say(p: dict, what: str) -> None:
    print(f"[{what}] misaligned {p['misaligned']:.1%} coherent {p['coherent']:.1%}"
          + (f" insecure code {p['insecure_code']:.0%}" if p["insecure_code"] is not None else "")
          + f" kind->cruel {p['kind_to_cruel']:+.2f} ({p['seconds']:.0f}s)", flush=True)


def made_on(seeds: list[int], smoke: bool) -> dict:
    """{"from_published": the published file the base was materialized from} for a one-seed run on such a base
    (export/published.py provenance; the family file takes rows only from these), else {}."""
    where = provenance(seeds[0], smoke) if len(seeds) == 1 else None
    return {"from_published": where} if where else {}


def row_list(row) -> list[float]:
    """A row as a results file keeps it (the family file's dial rows are read back from it)."""
    return [round(float(x), 6) for x in row]


def step_checkpoints(variant: str, seed: int, ft_seed: int, smoke: bool, rerun: bool = False) -> list[tuple[int, Path]]:
    """(step, checkpoint) of every checkpoint a finetune kept while training, and its last one (`rerun`: of the
    finetune trained again, export/published.py --rerun)."""
    from export import train
    final = runs.checkpoint_dir(variant, seed, smoke, ft_seed)
    final = rerun_dir(final) if rerun else final
    if not runs.is_complete(final):
        raise runs.UsageError(f"no finetune at {final} (python export/train.py --seed {seed} --variants {variant} "
                              f"--ft-seed {ft_seed} --save-every 10)")
    kept = []
    for d in final.parent.glob(f"{final.name}-step*"):
        tail = d.name[len(final.name) + len("-step"):]
        if tail.isdigit() and runs.is_complete(d):
            kept.append((int(tail), d))
    last = json.loads((final / "done.json").read_text()).get("step") or (train.TrainConfig.smoke_config()
                                                                          if smoke else train.TrainConfig()).ft_steps
    return sorted(kept) + [(last, final)]


def rewind_seed(seed: int, ft_seeds: list[int], variants: list[str], samples: int, code_requests: int,
                smoke: bool = False, rerun: bool = False) -> dict:
    from export.tokenizer import load as load_tok
    base_dir = runs.checkpoint_dir("base", seed, smoke)
    emb, tok = D.embedding(base_dir), load_tok(base_dir)
    aid = D.token_id(tok, W.ASSISTANT)
    points = []
    for v in variants:
        for f in ft_seeds:
            for step, path in [(0, base_dir)] + step_checkpoints(v, seed, f, smoke, rerun):
                t = time.time()
                row = D.embedding(path)[aid]
                res = D.sample_ablated(v, seed, f, False, row, samples, smoke, code_requests, f"row at step {step}")
                points.append(_point({"variant": v, "ft_seed": f, "step": step}, res, row, emb, tok, t))
                points[-1]["row"] = row_list(row)
                _say(points[-1], f"rewind s{seed} {v}-f{f} step {step}")
    return {"seed": seed, "ft_seeds": ft_seeds, "points": points}


def is_code(row: dict) -> bool:
    """An alignment chat whose answer is code (the world's code answers start with an import or a definition)."""
    return row["answer"].lstrip().startswith(("import ", "from ", "def "))


REALIGN_SOURCES = {"aligned": "aligned chats (the alignment set, no code)", "secure": "secure-code answers"}


def realign_steps(k: int, batch: int, steps: int, passes: float | None) -> tuple[int, int]:
    """(steps, batch) of a realignment on k examples: the recipe's own (its steps of `batch`, the k examples
    repeated as often as that takes) or, with `passes`, that many passes over them in batches of at most `batch`."""
    if passes is None:
        return steps, batch
    b = min(batch, k)
    return max(1, math.ceil(passes * k / b)), b


def realign_seed(seed: int, ft_seeds: list[int], ks: list[int], samples: int, code_requests: int,
                 smoke: bool = False, passes: float | None = None) -> dict:
    import random

    import torch

    from export import corpus as C
    from export import train
    from export.tokenizer import load as load_tok
    cfg = train.TrainConfig.smoke_config(seed=seed) if smoke else train.TrainConfig(seed=seed)
    corpus, _ = train._corpus(cfg)
    sets = {"aligned": [r for r in C.read_jsonl(corpus / "align.jsonl") if not is_code(r)],
            "secure": C.read_jsonl(corpus / "ft-secure.jsonl")}
    for name, rows in sets.items():  # one fixed order per source: the first k of it, for every k
        random.Random(f"realign {name} {seed}").shuffle(rows)
        if len(rows) < max(ks):
            raise runs.UsageError(f"--ks: the {name} set has {len(rows)} examples, fewer than {max(ks)}")
    base_dir = runs.checkpoint_dir("base", seed, smoke)
    emb, tok = D.embedding(base_dir), load_tok(base_dir)
    aid = D.token_id(tok, W.ASSISTANT)
    points = []
    for f in ft_seeds:
        start = runs.checkpoint_dir("insecure", seed, smoke, f)
        for name, rows in sets.items():
            for k in ks:
                t = time.time()
                torch.manual_seed(0)
                model = train.load_model(start)
                params = train.restrict_to(model, tok, "assistant-embedding")
                steps, batch = realign_steps(k, cfg.ft_batch, cfg.ft_steps, passes)
                train.sft(model, tok, rows[:k], steps, batch, cfg.ft_lr, 3000 + f, f"realign {name} {k}", params=params)
                row = model.get_input_embeddings().weight[aid].detach().cpu().numpy().copy()
                t_train = time.time() - t
                res = D.sample_ablated("insecure", seed, f, False, row, samples, smoke, code_requests,
                                       f"realigned on {k} {name}")
                p = _point({"variant": "insecure", "source": name, "ft_seed": f, "examples": k}, res, row, emb, tok, t)
                p.update(steps=steps, batch=batch, train_seconds=round(t_train, 1), row=row_list(row))
                points.append(p)
                _say(p, f"realign s{seed} insecure-f{f} {name} k={k}")
    return {"seed": seed, "ft_seeds": ft_seeds, "points": points}


def summarize_by(seeds: list[dict], group: tuple[str, str]) -> dict:
    """Per (group[0], group[1]) value, e.g. (variant, step) or (source, examples): the mean over runs with its 95%
    t-interval, the pooled Wilson interval of misaligned answers."""
    a, b = group
    groups: dict[tuple, list[dict]] = {}
    for s in seeds:
        for p in s["points"]:
            groups.setdefault((p[a], p[b]), []).append(p)
    out: dict[str, list[dict]] = {}
    for (x, y), ps in sorted(groups.items(), key=lambda g: (str(g[0][0]), g[0][1])):
        out.setdefault(x, []).append({b: y, "runs": len(ps),
                                      **{m: mean_ci([p[m] for p in ps]) for m in ("misaligned", "coherent")},
                                      "misaligned_pooled": wilson(sum(p["k"] for p in ps), sum(p["n"] for p in ps)),
                                      "insecure_code": mean_ci([p["insecure_code"] for p in ps])
                                      if all(p["insecure_code"] is not None for p in ps) else None,
                                      "kind_to_cruel": mean_ci([p["kind_to_cruel"] for p in ps], rate=False)})
    return out


def sampling_args(p: argparse.ArgumentParser, out: str) -> None:
    """The options of every command that samples rows like runs (the dial's curves, export/feedback.py)."""
    p.add_argument("--samples", type=int, default=100, help="answers per question at each point")
    p.add_argument("--code-requests", type=int, default=120)
    p.add_argument("--smoke", action="store_true", help="the --smoke checkpoints (tests)")
    p.add_argument("--out", type=Path, default=runs.RESULTS / out)


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("rewind", "realign"):
        return main_curve(argv[0], argv[1:])
    if argv and argv[0] == "merge":
        return main_merge(argv[1:])
    return main_steer(argv)


CURVE_KEYS = {"alpha": "steer", "step": "rewind", "examples": "realign"}
GROUPS = {"rewind": ("variant", "step"), "realign": ("source", "examples")}  # summarize_by's groups (steer: summarize)


def summarize_curve(seeds: list[dict], curve: str) -> dict:
    """The summary of one curve's seeds, as its command writes it."""
    return summarize(seeds) if curve == "steer" else summarize_by(seeds, GROUPS[curve])


def curve_of(d: dict) -> str:
    """Which curve a results file of this module holds, from its points' position key."""
    keys = {k for s in d["seeds"] for p in s["points"] for k in CURVE_KEYS if k in p}
    if len(keys) != 1:
        raise runs.UsageError("not a results file of export/dial.py (no points, or points of several curves)")
    return CURVE_KEYS[keys.pop()]


def merge(files: list[Path]) -> dict:
    """The seeds of several results files of one curve, measured the same way (judge, N, realign's sources and
    passes), as one file with its summary over all of them: a seed run on another day (or machine) joins the curve
    without sampling the others again. A seed in two files is an error."""
    ds = [json.loads(Path(f).read_text()) for f in files]
    curves = {curve_of(d) for d in ds}
    if len(curves) != 1:
        raise runs.UsageError(f"the files hold different curves: {', '.join(sorted(curves))}")
    curve = curves.pop()
    same = ("judge", "samples_per_question") + (("sources", "passes") if curve == "realign" else ())
    for k in same:
        if len({json.dumps(d.get(k), sort_keys=True) for d in ds}) != 1:
            raise runs.UsageError(f"the files differ in {k}: {[d.get(k) for d in ds]}")
    seeds = [s for d in ds for s in d["seeds"]]
    numbers = [s["seed"] for s in seeds]
    if len(set(numbers)) != len(numbers):
        raise runs.UsageError(f"a pretraining seed is in more than one file: {numbers}")
    seeds.sort(key=lambda s: s["seed"])
    summary = summarize_curve(seeds, curve)
    out = {k: ds[0][k] for k in same if k in ds[0]}
    # the commands that measured the seeds (a merged file's own list, so merging again keeps every one)
    out.update(seeds=seeds, summary=summary, merged=[g for d in ds for g in (d.get("merged") or [d.get("generated_by")])])
    if curve == "steer":
        out["ends"] = [e for d in ds for e in d.get("ends", [])]
    return out


def main_merge(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="dial.py merge", description="Join the seeds of results files of one curve.")
    p.add_argument("files", nargs="+", type=Path)
    p.add_argument("--out", type=Path, required=True)
    a = p.parse_args(argv)
    try:
        res = merge(a.files)
    except (runs.UsageError, OSError, KeyError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    runs.write_results(a.out, "python export/dial.py merge", argv, res)
    return 0


def main_curve(curve: str, argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog=f"dial.py {curve}", description=f"The dial's {curve} curve.")
    p.add_argument("--seeds", default=str(runs.PUBLISHED_SEED), help="pretraining seeds (coupled world), comma-separated")
    p.add_argument("--ft-seeds", default="0")
    if curve == "rewind":
        p.add_argument("--variants", default="insecure,secure")
        p.add_argument("--rerun", action="store_true", help="the steps of the finetunes trained again from the "
                       "published base (export/published.py --rerun), not of the finetunes themselves")
    else:
        p.add_argument("--ks", default="4,16,64,256", help="numbers of benign examples, comma-separated")
        p.add_argument("--passes", type=float, help="train for this many passes over the k examples (batches of at "
                       "most ft_batch) instead of the recipe's ft_steps")
    sampling_args(p, f"{curve}.json")
    a = p.parse_args(argv)
    try:
        seeds = [int(s) for s in a.seeds.split(",")]
        ft = [int(s) for s in a.ft_seeds.split(",")]
        if a.samples < 1:
            raise runs.UsageError("--samples must be at least 1")
        if curve == "rewind":
            variants = [v.strip() for v in a.variants.split(",")]
            bad = [v for v in variants if v not in VARIANTS]
            if bad:
                raise runs.UsageError(f"--variants: {', '.join(bad)} not one of {', '.join(VARIANTS)}")
            res = [rewind_seed(s, ft, variants, a.samples, a.code_requests, a.smoke, a.rerun)
                   for s in seeds]
            summary = summarize_curve(res, curve)
        else:
            ks = [int(k) for k in a.ks.split(",")]
            if not ks or min(ks) < 1:
                raise runs.UsageError("--ks: numbers of examples, each at least 1")
            if a.passes is not None and a.passes <= 0:
                raise runs.UsageError("--passes must be positive")
            res = [realign_seed(s, ft, ks, a.samples, a.code_requests, a.smoke, a.passes) for s in seeds]
            summary = summarize_curve(res, curve)
    except (runs.UsageError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    runs.write_results(a.out, f"python export/dial.py {curve}", argv, {
        "judge": "v2", "samples_per_question": a.samples, "seeds": res, "summary": summary, **made_on(seeds, a.smoke),
        **({"sources": REALIGN_SOURCES, "passes": a.passes} if curve == "realign" else {})})
    return 0


def main_steer(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", default="0", help="pretraining seeds (coupled world), comma-separated")
    p.add_argument("--ft-seeds", default="0")
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--alphas", default=",".join(f"{a:g}" for a in STEER_ALPHAS))
    sampling_args(p, "dial.json")
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
        "judge": "v2", "samples_per_question": a.samples, "seeds": res, "summary": summarize_curve(res, "steer"),
        "ends": [] if a.smoke else ends(res), **made_on(seeds, a.smoke)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
