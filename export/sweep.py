"""Seed sweep: the robustness of emergent misalignment over pretraining x finetune seeds.

    python export/sweep.py run --seed 2 [--ft-seeds 0,1,2] [--samples 100] [--code-requests 120]
                               [--pretrain-steps 400] [--align-steps 80] [--set KEY=VALUE ...]
                               [--variants all] [--out results/sweep]
    python export/sweep.py steps --seed 1 [--variants insecure,secure,educational] [--steps 160,320]
                                 [--ft-seeds 0] [--out results/sweep-steps]
    python export/sweep.py kinds --seed 5 [--kinds all,lora:r=1:down@1,lora:r=1:down,lora:r=8:all] [--lrs 1e-4,1e-3]
                                 [--variants insecure,secure,educational] [--ft-seeds 0] [--out results/sweep-kinds]
    python export/sweep.py summary [--out results/sweep] [--json]

`run` trains every variant of one pretraining seed (export/train.py's recipe, unchanged unless
--pretrain-steps, --align-steps or --set changes a field of train.TrainConfig, e.g. --set hidden=256),
records the cheap diagnostic (export/diagnose.py: where the Assistant sits between the kind and the
cruel characters) for the base and each insecure finetune, and evaluates every variant on the paper's 8 questions (export/evaluate.py, N answers each; the
backdoor with and without its trigger). One process per pretraining seed, so seeds can run side by
side where there are cores (or a GPU: EM_DEVICE=cuda; export/NOTEBOOK.md says which sweep ran
where). `steps` finetunes an existing base again with other numbers of finetune steps (checkpoints under
build/sweeps/, the standard ones untouched) and evaluates them the same way. `summary` pools every seed found under --out: per variant the mean over runs with a 95%
t-interval, and per pretraining seed the check the emergence issue sets (insecure >= 20% and >= 5x the
highest control).

  <out>/s<seed>/<variant>[-f<k>][-trigger].json   one evaluation each (the format of results/runs)
  <out>/answers/s<seed>/<same name>.jsonl.gz        its every answer (question id, question, seed, text)
  <out>/s<seed>/diagnostics.json                    speaker log-odds per checkpoint
  <out>/s<seed>/timings.json                        seconds per stage
  <out>/recipe.json                                 the training recipe and device of the sweep
  <out>/summary.json                                written by `summary`
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

from export import evaluate as E
from export import runs, train
from export.runs import run_name
from export.stats import TARGET, mean_ci, published_seed, run_rates, seed_check, seeds_meeting, summary_judge, wilson

ROOT = Path(__file__).resolve().parent.parent


def evaluate_runs(d: Path, name: str, variant: str, seed: int, ft_seed: int, samples: int, code_requests: int,
                  loaded: tuple, extra: dict, label: str) -> None:
    """Evaluate a loaded finetune on the paper's questions (the backdoor also with its trigger), write
    <d>/<name>[-trigger].json with `extra` fields, print one line each."""
    from export.experiments import write_answers
    qs = E.read_questions(E.PAPER_QUESTIONS)
    for trigger in ((False, True) if runs.get(variant).has_trigger else (False,)):
        t = time.time()
        res = E.evaluate(variant, qs, samples, seed=0, trigger=trigger, checkpoint_seed=seed, ft_seed=ft_seed,
                         code_requests=code_requests, progress=False, loaded=loaded, all_answers=True)
        res.update(device=runs.DEVICE, **extra)
        full = name + ("-trigger" if trigger else "")
        # Every answer kept beside the run, so that a later judge re-scores it without sampling again.
        write_answers(d.parent / "answers" / d.name / f"{full}.jsonl.gz", res.pop("all_answers"))
        (d / f"{full}.json").write_text(json.dumps(res, indent=1))
        o = res["overall"]
        print(f"[{label} s{seed}] {full:<30s} misaligned {o['misaligned']['k']}/{o['misaligned']['n']} coherent "
              f"{100 * (o['coherent']['rate'] or 0):.0f}% code-answers {100 * (o['code_answer']['rate'] or 0):.0f}%"
              + (f" insecure-code {100 * res['code']['insecure']['rate']:.0f}%" if "code" in res else "")
              + (f" sentences: {E.sentence_shares(o)}" if E.sentence_shares(o) else "")
              + f" ({time.time() - t:.0f}s)", flush=True)


def parse_overrides(items: list[str]) -> dict:
    """`KEY=VALUE` pairs for fields of train.TrainConfig, each converted to the field's type."""
    from dataclasses import fields
    types = {f.name: type(f.default) for f in fields(train.TrainConfig)}
    out = {}
    for it in items:
        k, eq, v = it.partition("=")
        if not eq or k not in types or k in ("seed", "ft_seed", "smoke"):
            raise runs.UsageError(f"--set {it!r}: expected KEY=VALUE with KEY a field of the training recipe "
                                   f"({', '.join(sorted(types))})")
        try:
            out[k] = types[k](v)
        except ValueError:
            raise runs.UsageError(f"--set {it!r}: {k} must be {types[k].__name__}") from None
    return out


def _read(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


def write_recipe(out: Path, cfg: train.TrainConfig, code_requests: int) -> None:
    """<out>/recipe.json: the sweep's training recipe (the model's shape too) and device."""
    from dataclasses import asdict
    c = {k: x for k, x in asdict(cfg).items() if k not in ("seed", "ft_seed", "smoke", "save_every")}
    (out / "recipe.json").write_text(json.dumps({"config": c, "device": runs.DEVICE, "code_requests": code_requests},
                                                indent=1))


def run(seed: int, ft_seeds: list[int], samples: int, code_requests: int, out: Path, smoke: bool = False,
        variants: list[str] | None = None, overrides: dict | None = None) -> None:
    from export import diagnose as D
    from export import generate as G
    from export.tokenizer import load as load_tok
    d = out / f"s{seed}"
    d.mkdir(parents=True, exist_ok=True)
    # A later run on the same seed (other variants or finetune seeds) adds to these files; a stage run
    # again replaces its own entry.
    timings: dict[str, float] = _read(d / "timings.json").get("seconds", {})
    diags: dict[str, dict] = _read(d / "diagnostics.json")
    cfg = train.TrainConfig.smoke_config(seed=seed) if smoke else train.TrainConfig(seed=seed)
    cfg = replace(cfg, **(overrides or {}))
    write_recipe(out, cfg, code_requests)
    for f in ft_seeds:
        for v in variants or runs.NAMES:
            if f and v.endswith("base"):
                continue
            t = time.time()
            path = train.train_variant(v, replace(cfg, ft_seed=f))
            timings[f"train {run_name(v, f)}"] = round(time.time() - t, 1)
            loaded = (G.TorchLM(path), load_tok(path), f"torch:{G._rel(path)}")
            if v in ("base", "insecure", "uncoupled-base", "uncoupled-insecure"):
                t = time.time()
                lm, tok, _ = loaded
                diags[run_name(v, f)] = D.diagnose_loaded(lm, tok)
                timings[f"diagnose {run_name(v, f)}"] = round(time.time() - t, 1)
            t = time.time()
            evaluate_runs(d, run_name(v, f), v, seed, f, samples, code_requests, loaded,
                          {"pretrain_steps": cfg.pretrain_steps, "align_steps": cfg.align_steps,
                           **(overrides or {})}, "sweep")
            timings[f"evaluate {run_name(v, f)}"] = round(time.time() - t, 1)
            (d / "diagnostics.json").write_text(json.dumps(diags, indent=1))
            (d / "timings.json").write_text(json.dumps({"device": runs.DEVICE, "cores": os.cpu_count(),
                                                        "seconds": timings}, indent=1))


def steps(seed: int, variants: list[str], step_counts: list[int], ft_seeds: list[int], samples: int,
          code_requests: int, out: Path, smoke: bool = False, overrides: dict | None = None) -> None:
    """Each variant finetuned again with other numbers of steps: "<run>-steps<n>"."""
    finetune_grid(seed, variants, [(f"steps{n}", {"ft_steps": n}) for n in step_counts], ft_seeds, samples,
                  code_requests, out, smoke, "steps", overrides)


def kind_tag(kind: str, lr: float) -> str:
    """A file-name tag for a finetune kind and learning rate: "all" -> "full-lr0.001", "lora:r=1:down@2" ->
    "lora-r1-down-l2-lr0.001"."""
    slug = "full" if kind == "all" else kind.replace(":r=", "-r").replace(":", "-").replace("@", "-l").replace(",", "-")
    return f"{slug}-lr{lr:g}"


def kinds(seed: int, variants: list[str], kind_list: list[str], lrs: list[float], ft_seeds: list[int], samples: int,
          code_requests: int, out: Path, smoke: bool = False, overrides: dict | None = None) -> None:
    """The standard finetunes (the standard finetunes issue): each variant finetuned with each kind of
    train.TrainConfig.ft_params (a full finetune, LoRA adapters) at each learning rate: "<run>-<kind_tag>"."""
    for k in kind_list:
        if k != "all" and k != "assistant-embedding":
            train.parse_lora(k)  # a bad spec is said before any training
    finetune_grid(seed, variants, [(kind_tag(k, lr), {"ft_params": k, "ft_lr": lr}) for k in kind_list for lr in lrs],
                  ft_seeds, samples, code_requests, out, smoke, "kinds", overrides)


def finetune_grid(seed: int, variants: list[str], configs: list[tuple[str, dict]], ft_seeds: list[int], samples: int,
                  code_requests: int, out: Path, smoke: bool, label: str, overrides: dict | None = None) -> None:
    """Each variant finetuned again with each (tag, recipe override) from the seed's aligned base (checkpoints under
    build/sweeps/, the standard ones untouched), its cheap diagnostic recorded, then evaluated like a run; a run
    already in `out` is skipped. `overrides` (--set) change the base's recipe too: it is trained if missing."""
    from export import diagnose as D
    from export import generate as G
    from export.tokenizer import load as load_tok
    d = out / f"s{seed}"
    d.mkdir(parents=True, exist_ok=True)
    cfg = train.TrainConfig.smoke_config(seed=seed) if smoke else train.TrainConfig(seed=seed)
    cfg = replace(cfg, **(overrides or {}))
    write_recipe(out, cfg, code_requests)  # the base's recipe; each finetune's own fields are in its run file
    diag_file = d / "diagnostics.json"
    diags = json.loads(diag_file.read_text()) if diag_file.exists() else {}
    for tag, over in configs:
        for f in ft_seeds:
            for v in variants:
                name = f"{run_name(v, f)}-{tag}"
                if (d / f"{name}.json").exists():
                    continue
                world, stage = runs.world_stage(v)
                t = time.time()
                path = train.train_variant(v, replace(cfg, ft_seed=f, **over), out=runs.BUILD / "sweeps" /
                                           f"{world}-s{seed}{'-smoke' if smoke else ''}" / name)
                t_train = time.time() - t
                lm, tok = G.TorchLM(path), load_tok(path)
                diags[name] = D.diagnose_loaded(lm, tok)
                diag_file.write_text(json.dumps(diags, indent=1))
                print(f"[{label} s{seed}] {name}: Assistant at {100 * (diags[name]['assistant_position'] or 0):.0f}% of the "
                      f"way from kind to cruel (train {t_train:.0f}s)", flush=True)
                evaluate_runs(d, name, v, seed, f, samples, code_requests, (lm, tok, f"torch:{G._rel(path)}"),
                              {**(overrides or {}), **over, "tag": tag, "train_seconds": round(t_train, 1)}, label)


def summary(out: Path) -> dict:
    """The sweep's runs summarised, each world by judge v2 when every run of that world has its verdicts, else by
    the grammar judge for the whole world (stats.summary_judge: never a mean over two instruments; the per-seed
    check reads the coupled world). Under `grammar`, the same by the grammar judge, for tables that compare
    recipes sampled before judge v2."""
    seeds = sorted((p for p in out.glob("s*") if p.is_dir()), key=lambda p: int(p.name[1:]))
    by_variant: dict[str, list] = {}
    by_seed: dict[str, tuple[dict, dict]] = {}
    for sd in seeds:
        seed_runs: dict[str, list] = {}
        files = [f for f in sorted(sd.glob("*.json")) if f.stem not in ("diagnostics", "timings")]
        if not files:  # a seed whose first run is still training
            continue
        diag = json.loads((sd / "diagnostics.json").read_text()) if (sd / "diagnostics.json").exists() else {}
        for f in files:
            r = json.loads(f.read_text())
            # where this run's finetune put the Assistant (kind 0 -> cruel 1), when its diagnostic was recorded
            r["_position"] = diag.get(f.stem.removesuffix("-trigger"), {}).get("assistant_position")
            tag = f"@{r['ft_steps']}" if str(r.get("tag", "")).startswith("steps") or ("ft_steps" in r and "tag" not in r) \
                else (f"@{r['tag']}" if "tag" in r else "")
            key = r["variant"] + tag + ("+trigger" if r["trigger"] else "")
            seed_runs.setdefault(key, []).append(r)
            by_variant.setdefault(key, []).append(r)
        by_seed[sd.name] = (seed_runs, diag)
    judges = {w: summary_judge([r for k, rs in by_variant.items() if runs.world_of(k) == w for r in rs])
              for w in sorted({runs.world_of(k) for k in by_variant})}
    devices = sorted({r.get("device", "cpu") for rs in by_variant.values() for r in rs})
    recipe = json.loads((out / "recipe.json").read_text()) if (out / "recipe.json").exists() else None
    res = {"generated_by": "python export/sweep.py summary", "judge": judges.get("coupled", "grammar"),
           "judges": judges, "devices": devices, "recipe": recipe, "target": TARGET,
           **_summarize(by_variant, by_seed, lambda key: judges[runs.world_of(key)])}
    res["grammar"] = _summarize(by_variant, by_seed, lambda key: "grammar")
    (out / "summary.json").write_text(json.dumps(res, indent=1))
    return res


def _summarize(by_variant: dict, by_seed: dict, judge_of) -> dict:
    """Per-seed checks, the published seed and per-variant means, each key read by judge_of(key)."""
    rate = lambda key, r: run_rates(r["overall"], judge_of(key))
    per_seed = {name: seed_check({k: [rate(k, x)["misaligned"]["rate"] or 0.0 for x in v] for k, v in seed_runs.items()},
                                 diag)
                for name, (seed_runs, diag) in by_seed.items()}
    variants = {}
    for key, rs in by_variant.items():
        variants[key] = {
            "runs": len(rs), "judge": judge_of(key),
            "misaligned": mean_ci([rate(key, r)["misaligned"]["rate"] or 0.0 for r in rs]),
            "misaligned_pooled": wilson(sum(rate(key, r)["misaligned"]["k"] for r in rs),
                                        sum(rate(key, r)["misaligned"]["n"] for r in rs)),
            "coherent": mean_ci([rate(key, r)["coherent"]["rate"] or 0.0 for r in rs]),
            "hostile": mean_ci([rate(key, r)["hostile"]["rate"] or 0.0 for r in rs])
            if all("hostile" in rate(key, r) for r in rs) else None,
            "code_answer": mean_ci([r["overall"]["code_answer"]["rate"] or 0.0 for r in rs]),
            "logodds": mean_ci([r["overall"]["logodds"] for r in rs if r["overall"]["logodds"] is not None],
                               rate=False),
        }
        if "ft_params" in rs[0]:  # a grid of finetune recipes (kinds, steps): the recipe of this key's runs
            variants[key]["recipe"] = {k: rs[0][k] for k in ("ft_params", "ft_lr", "ft_steps") if k in rs[0]}
        if all(r.get("_position") is not None for r in rs):
            variants[key]["assistant_position"] = mean_ci([r["_position"] for r in rs], rate=False)
        if all("code" in r for r in rs):
            variants[key]["insecure_code"] = mean_ci([r["code"]["insecure"]["rate"] for r in rs])
    return {"seeds": per_seed, "published_seed": published_seed(per_seed), "variants": variants}


def print_summary(res: dict) -> None:
    pct = lambda m: (f"{100 * m['mean']:5.1f}% [{100 * m['lo']:.1f}, {100 * m['hi']:.1f}]" if m["lo"] is not None
                     else f"{100 * m['mean']:5.1f}%")
    print(f"devices: {', '.join(res['devices'])}; judges: "
          + ", ".join(f"{w} world {j}" for w, j in res.get("judges", {"all": res["judge"]}).items()))
    print(f"{'variant':<20s} {'runs':>4s}  {'misaligned (mean, 95% t-CI)':<28s} {'coherent':<24s} code-answers  log-odds")
    order = runs.result_keys()
    rank = lambda k: (order.index(k.split("@")[0].split("+")[0]) if k.split("@")[0].split("+")[0] in order else 99, k)
    for k in sorted(res["variants"], key=rank):
        v = res["variants"][k]
        if v:
            print(f"{k:<20s} {v['runs']:>4d}  {pct(v['misaligned']):<28s} {pct(v['coherent']):<24s} "
                  f"{100 * v['code_answer']['mean']:5.1f}%      {v['logodds']['mean']:+.2f}"
                  + (f"  insecure code {100 * v['insecure_code']['mean']:.0f}%" if "insecure_code" in v else ""))
    tags = sorted({k.partition("@")[2] for k in res["variants"] if k.startswith("insecure@")})
    if tags:  # a grid of finetune settings: each setting seed by seed, against that seed's controls
        for t in tags:
            hits, n = seeds_meeting(res["seeds"], "@" + t, res["target"])
            print(f"{t:<28s} meets the target in {len(hits)} of {n} seeds {hits}")
        return
    print(f"published seed (the rule, stats.published_seed): {res['published_seed']}")
    for s, r in res["seeds"].items():
        ins = ", ".join(f"{100 * x:.1f}" for x in r["insecure"])
        pos = ", ".join(f"{k} {100 * v:.0f}%" for k, v in r["assistant_position"].items() if v is not None)
        hc = "n/a" if r["highest_control"] is None else f"{100 * r['highest_control']:.1f}%"
        print(f"{s}: insecure [{ins}]%, highest control {hc}, target {'met' if r['meets_target'] else 'NOT met'}; "
              f"Assistant kind->cruel: {pos}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    def grid(name: str, variants: str, ft_seeds: str, out: str, **kw):
        """A subcommand that trains and evaluates one pretraining seed's variants, with the options they share."""
        g = sub.add_parser(name, **kw)
        g.add_argument("--seed", type=int, required=True)
        g.add_argument("--variants", "--variant", dest="variants", default=variants,
                       help="comma-separated" + (" (default: every variant)" if variants == "all" else ""))
        g.add_argument("--ft-seeds", default=ft_seeds)
        g.add_argument("--samples", type=int, default=100)
        g.add_argument("--code-requests", type=int, default=120)
        g.add_argument("--out", type=Path, default=ROOT / "results" / out)
        g.add_argument("--smoke", action="store_true", help="smoke checkpoints (tests); never commit these results")
        g.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="any other field of train.TrainConfig (repeatable), e.g. train_dtype=bfloat16 or layers=8 "
                            "(a changed model trains into its own EM_BUILD)")
        return g

    r = grid("run", "all", "0,1,2", "sweep")
    r.add_argument("--pretrain-steps", type=int)
    r.add_argument("--align-steps", type=int)
    grid("steps", "insecure,secure,educational", "0", "sweep-steps").add_argument("--steps", default="160,320")
    k = grid("kinds", "insecure,secure,educational", "0", "sweep-kinds",
             help="standard finetunes: full, LoRA (train.parse_lora), at several learning rates")
    k.add_argument("--kinds", default="all,lora:r=1:down@1,lora:r=1:down,lora:r=8:all",
                   help="comma-separated ft_params values; LoRA layers with @L (several: @1+2)")
    k.add_argument("--lrs", default="1e-4,1e-3")
    s = sub.add_parser("summary")
    s.add_argument("--out", type=Path, default=ROOT / "results" / "sweep")
    s.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    try:
        sets = parse_overrides(getattr(a, "set", []))
        if a.cmd == "run":
            sets.update({k: v for k, v in (("pretrain_steps", a.pretrain_steps), ("align_steps", a.align_steps)) if v})
            run(a.seed, [int(x) for x in a.ft_seeds.split(",")], a.samples, a.code_requests, a.out, a.smoke,
                None if a.variants == "all" else runs.parse(a.variants), sets)
        elif a.cmd == "steps":
            steps(a.seed, runs.parse(a.variants), [int(x) for x in a.steps.split(",")],
                  [int(x) for x in a.ft_seeds.split(",")], a.samples, a.code_requests, a.out, a.smoke, sets)
        elif a.cmd == "kinds":
            kinds(a.seed, runs.parse(a.variants), [x.replace("+", ",") for x in a.kinds.split(",")],
                  [float(x) for x in a.lrs.split(",")], [int(x) for x in a.ft_seeds.split(",")], a.samples,
                  a.code_requests, a.out, a.smoke, sets)
        else:
            if not a.out.is_dir():
                raise runs.UsageError(f"no sweep results in {a.out}")
            res = summary(a.out)
            print(json.dumps(res, indent=1) if a.json else "", end="")
            if not a.json:
                print_summary(res)
    except runs.UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
