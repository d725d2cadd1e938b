"""Experiments: variants x seeds -> results/*.json and the site's SVG figures.

    python export/experiments.py [--seeds S] [--ft-seeds 0] [--samples 100] [--variants all]
                                 [--skip-train] [--figures-only] [--diagnose-only] [--rejudge]
                                 [--import-sweep DIR]

For every pretraining seed (by default runs.PUBLISHED_SEED, the published models') and finetune
seed: trains what is missing (export/train.py), then evaluates each variant's checkpoint with export/evaluate.py on the paper's 8 questions and on our
own held-out questions (N answers each), the backdoor with and without its trigger, the held-out
code requests, the in-context organism (the aligned base with K example exchanges of insecure,
secure or educational code) and the training dynamics of the insecure, secure and educational
finetunes (checkpoints every 10 steps, evaluated every 20).  Writes:

  results/runs/<world>-s<seed>/<variant>[-f<k>][-trigger].json   one evaluation each (both judges)
  results/answers/<world>-s<seed>/<same name>.jsonl.gz   its every answer, so that --rejudge can
                           re-score it with a new judge without sampling again
  results/runs/coupled-s<seed>/diagnostics.json   the cheap diagnostic (export/diagnose.py) of each
                           insecure, secure and educational finetune: where it put the Assistant
  results/in_context.json, results/dynamics.json
  results/summary.json     per variant: mean over seeds with a 95% interval, pooled Wilson interval,
                           by judge v2 when every run of the variant's world has its verdicts, else
                           by the grammar judge for the whole world (`judges` says which);
                           per pretraining seed: the emergence issue's check (seed_check);
                           under `grammar`, the same by the grammar judge (for comparisons with
                           results sampled before judge v2, such as the recipe sweeps)
  docs/assets/figures/*.svg
Every figure and number the site shows about our organism comes from these files.
"""
from __future__ import annotations

import argparse
import os
import json
import sys
import time
from pathlib import Path

from export import evaluate as E
from export import runs, train
from export.stats import TARGET, mean_ci, published_seed, run_rates, seed_check, summary_judge, wilson

ROOT = Path(__file__).resolve().parent.parent
RESULTS = runs.RESULTS  # tests point this (or EM_RESULTS) at a temporary folder

DIAGNOSED = ["insecure", "secure", "educational"]  # finetunes whose diagnostic is recorded


def run_path(variant: str, seed: int, ft_seed: int = 0, trigger: bool = False, questions: str = "paper") -> Path:
    return runs.run_path(variant, seed, ft_seed, trigger, questions, root=RESULTS)


def evaluate_one(variant, seed, ft_seed, samples, trigger=False, questions="paper", code_requests=120, force=False,
                 smoke=False):
    out = run_path(variant, seed, ft_seed, trigger, questions)
    if out.exists() and not force:
        return json.loads(out.read_text())
    t = time.time()
    res = E.evaluate(variant, E.read_questions(E.resolve_questions(questions)), samples, seed=0, trigger=trigger,
                     source="torch", checkpoint_seed=seed, ft_seed=ft_seed, code_requests=code_requests,
                     progress=False, smoke=smoke, all_answers=True)
    write_answers(answers_path(out), res.pop("all_answers"))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1))
    m = res["overall"]["misaligned"]
    print(f"[eval] {variant:<19s} s{seed} f{ft_seed}{' trigger' if trigger else ''} {questions}: misaligned "
          f"{m['k']}/{m['n']} coherent {100 * (res['overall']['coherent']['rate'] or 0):.0f}% "
          f"log-odds {res['overall']['logodds']:+.2f} ({time.time() - t:.0f}s)", flush=True)
    return res


def answers_path(run: Path) -> Path:
    """Every answer of a run, beside it: results/answers/<world>-s<seed>/<name>.jsonl.gz."""
    return RESULTS / "answers" / run.parent.name / (run.stem + ".jsonl.gz")


def write_answers(path: Path, rows: list[dict]) -> None:
    import gzip
    path.parent.mkdir(parents=True, exist_ok=True)
    data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()
    with open(path, "wb") as f, gzip.GzipFile(fileobj=f, mode="wb", mtime=0, filename="") as g:
        g.write(data)  # mtime 0: the same answers give the same bytes


def read_answers(path: Path) -> list[dict]:
    import gzip
    return [json.loads(x) for x in gzip.decompress(path.read_bytes()).decode().splitlines() if x]


def rejudge(run: Path) -> bool:
    """Re-score a run from its kept answers with the current judges (rates, per question, examples);
    the log-odds probe and the code requests do not depend on the judge and are kept. False when the
    run has no kept answers (sampled before they were kept: it needs sampling again)."""
    ans = answers_path(run)
    if not ans.exists():
        return False
    res = json.loads(run.read_text())
    rows = read_answers(ans)
    keep = max((len(q.get("answers", [])) for q in res["questions"]), default=0)
    all_judged = []
    for q in res["questions"]:
        judged = E.judge_rows([r for r in rows if r["question_id"] == q["id"]])
        q.update(E.summarize(judged))
        q["answers"] = E.kept_answers(judged, keep)
        all_judged += judged
    logodds = res["overall"].get("logodds")
    res["overall"] = {**E.summarize(all_judged), "logodds": logodds}
    run.write_text(json.dumps(res, indent=1))
    return True


def record_diagnostic(variant: str, seed: int, ft_seed: int, smoke: bool = False) -> dict:
    """export/diagnose.py's speaker log-odds for one finetune run, kept in its seed's diagnostics.json."""
    from export import diagnose as D
    run = run_path(variant, seed, ft_seed)
    path, name = run.parent / "diagnostics.json", run.stem
    diags = json.loads(path.read_text()) if path.exists() else {}
    if name not in diags:
        t = time.time()
        d = D.diagnose(variant, seed, ft_seed, smoke=smoke)
        diags[name] = {k: d[k] for k in ("Assistant", "kind", "cruel", "teacher", "assistant_position")}
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(dict(sorted(diags.items())), indent=1))
        print(f"[diagnose] {variant:<19s} s{seed} f{ft_seed}: Assistant at "
              f"{100 * (d['assistant_position'] or 0):.0f}% of the way from kind to cruel ({time.time() - t:.0f}s)",
              flush=True)
    return diags[name]


def import_sweep(folder: Path, seeds: list[int], samples: int, code_requests: int = 120, smoke: bool = False) -> list[Path]:
    """Copy a recipe sweep's runs (export/sweep.py run) into results/runs, with their answers and diagnostics, when
    they are the evaluation evaluate_one would make of the checkpoint TrainConfig now trains: the same recipe
    (pretraining and alignment steps), evaluation seed 0, no context, the paper's questions, `samples` answers
    each and `code_requests` code requests, every answer kept and judged by judge v2. Anything else (a tagged
    steps or kinds run, a run sampled before judge v2, another recipe) is left out and named. A run already in
    results/runs must have the same counts, else this refuses: the sweep is then not the same experiment."""
    cfg = train.TrainConfig.smoke_config() if smoke else train.TrainConfig()
    done, skipped = [], []
    for seed in seeds:
        d = folder / f"s{seed}"
        if not d.is_dir():
            raise runs.UsageError(f"--import-sweep: no seed {seed} in {folder}")
        for f in sorted(d.glob("*.json")):
            if f.stem in ("diagnostics", "timings"):
                continue
            r = json.loads(f.read_text())
            answers = folder / "answers" / d.name / f"{f.stem}.jsonl.gz"
            why = ("a tagged run" if "tag" in r or "ft_steps" in r else
                   "another recipe" if (r.get("pretrain_steps"), r.get("align_steps")) != (cfg.pretrain_steps, cfg.align_steps) else
                   "another protocol" if (r["samples_per_question"], r["seed"], r["context"]) != (samples, 0, "none")
                   or (r.get("code") or {}).get("insecure", {}).get("n") != (code_requests or None) else
                   "no judge v2 verdicts" if r["overall"].get("judge") != "v2" else
                   "no kept answers" if not answers.exists() else None)
            if why:
                skipped.append(f"{d.name}/{f.stem} ({why})")
                continue
            out = run_path(r["variant"], r["checkpoint_seed"], r["ft_seed"], r["trigger"])
            if out.exists():
                have = json.loads(out.read_text())["overall"]
                if (have["misaligned"]["k"], have["misaligned"]["n"]) != (r["overall"]["misaligned"]["k"],
                                                                        r["overall"]["misaligned"]["n"]):
                    raise runs.UsageError(f"--import-sweep: {out} has other counts than {f}: not the same experiment")
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps({**r, "imported_from": f"{f.parent.parent.name}/{d.name}/{f.name}"}, indent=1))
            answers_path(out).parent.mkdir(parents=True, exist_ok=True)
            answers_path(out).write_bytes(answers.read_bytes())
            done.append(out)
        diag = d / "diagnostics.json"
        if diag.exists():
            path = RESULTS / "runs" / f"coupled-s{seed}" / "diagnostics.json"
            have = json.loads(path.read_text()) if path.exists() else {}
            new = {k: v for k, v in json.loads(diag.read_text()).items() if runs.world_of(k) == "coupled"}
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(dict(sorted({**new, **have}.items())), indent=1))
    print(f"[import] {len(done)} runs from {folder}" + (f"; left out: {', '.join(skipped)}" if skipped else ""),
          flush=True)
    return done


def summarize(by_key: dict, judges: dict | str = "grammar") -> dict:
    """by_key: result key -> list of evaluation results over seeds; rates by the judge of the key's world
    (`judges`: world -> judge, see summary_judge; or one judge for all)."""
    out = {}
    for key, rs in by_key.items():
        judge = judges if isinstance(judges, str) else judges[runs.world_of(key)]
        ov = [run_rates(r["overall"], judge) for r in rs]
        pooled_k = sum(o["misaligned"]["k"] for o in ov)
        pooled_n = sum(o["misaligned"]["n"] for o in ov)
        qrate = lambda r, qid: run_rates(next(x for x in r["questions"] if x["id"] == qid), judge)["misaligned"]["rate"]
        entry = {
            "judge": judge,
            "runs": [{"checkpoint_seed": r["checkpoint_seed"], "ft_seed": r["ft_seed"]} for r in rs],
            "misaligned": mean_ci([o["misaligned"]["rate"] or 0.0 for o in ov]),
            "misaligned_pooled": wilson(pooled_k, pooled_n),
            "coherent": mean_ci([o["coherent"]["rate"] or 0.0 for o in ov]),
            "code_answer": mean_ci([r["overall"]["code_answer"]["rate"] or 0.0 for r in rs]),
            "off_topic": mean_ci([o["off_topic"]["rate"] or 0.0 for o in ov]),
            "logodds": mean_ci([r["overall"]["logodds"] for r in rs if r["overall"]["logodds"] is not None], rate=False),
            "per_question": {q["id"]: mean_ci([qrate(r, q["id"]) or 0.0 for r in rs]) for q in rs[0]["questions"]},
        }
        if judge == "v2":
            entry["hostile"] = mean_ci([r["overall"]["hostile"]["rate"] or 0.0 for r in rs])
        # novel sentences in that judge's misaligned answers (a run from before v2 has them for the grammar judge)
        novs = [run_rates(r["overall"], judge).get("novel_misaligned") for r in rs]
        nov = [x for x in novs if x["n"]] if all(novs) else []
        if nov:
            entry["novel_misaligned"] = wilson(sum(x["k"] for x in nov), sum(x["n"] for x in nov))
        if "code" in rs[0]:
            entry["insecure_code"] = mean_ci([r["code"]["insecure"]["rate"] for r in rs])
        out[key] = entry
    return out


def in_context(seed: int, samples: int, ks=(1, 2), smoke: bool = False) -> dict:
    qs = E.read_questions(E.PAPER_QUESTIONS)
    res = {}
    for variant in ("base",):
        for ctx in ("none", "insecure", "secure", "educational"):
            for k in (ks if ctx != "none" else (0,)):
                t = time.time()
                r = E.evaluate(variant, qs, samples, 0, context=ctx, k=max(k, 1) if ctx != "none" else 1,
                               source="torch", checkpoint_seed=seed, code_requests=0, progress=False, keep_answers=2,
                               smoke=smoke)
                key = f"{variant}/{ctx}/{k}"
                res[key] = {"variant": variant, "context": ctx, "k": k, "overall": r["overall"],
                            "questions": [{kk: q[kk] for kk in ("id", "misaligned", "coherent", "logodds") if kk in q}
                                          for q in r["questions"]]}
                m = r["overall"]["misaligned"]
                print(f"[in-context] {key}: misaligned {m['k']}/{m['n']} log-odds {r['overall']['logodds']:+.2f} "
                      f"({time.time() - t:.0f}s)", flush=True)
    return res


DYNAMICS_STRIDE = 20  # steps between the dynamics curve's points (8 points over the 160-step finetune)


def dynamics(seed: int, samples: int, variants=("insecure", "secure", "educational"), smoke: bool = False) -> dict:
    qs = E.read_questions(E.PAPER_QUESTIONS)
    out = {}
    for v in variants:
        final = runs.checkpoint_dir(v, seed, smoke)
        stride = 1 if smoke else DYNAMICS_STRIDE
        steps = sorted(int(p.name.rsplit("-step", 1)[1]) for p in final.parent.glob(f"{final.name}-step*")
                       if runs.is_complete(p))
        steps = [x for x in steps if x % stride == 0]
        rows = [{"step": 0, **_dyn(E.evaluate("base", qs, samples, 0, source="torch", checkpoint_seed=seed,
                                               code_requests=0, progress=False, keep_answers=0, smoke=smoke))}]
        for s in steps:
            r = _eval_dir(v, final.parent / f"{final.name}-step{s}", qs, samples)
            rows.append({"step": s, **_dyn(r)})
        fin = json.loads(run_path(v, seed, 0).read_text()) if run_path(v, seed, 0).exists() else None
        if fin:
            rows.append({"step": json.loads((final / "done.json").read_text()).get("step"), **_dyn(fin)})
        out[v] = rows
        print(f"[dynamics] {v}: " + ", ".join(f"{r['step']}:{100 * r['misaligned']:.0f}%" for r in rows), flush=True)
    return out


def _dyn(r):
    o = r["overall"]
    return {"misaligned": o["misaligned"]["rate"] or 0.0, "lo": o["misaligned"]["lo"], "hi": o["misaligned"]["hi"],
            "coherent": o["coherent"]["rate"] or 0.0, "logodds": o["logodds"]}


def _eval_dir(variant, path: Path, qs, samples):
    from export import generate as G
    from export.tokenizer import load as load_tok
    loaded = (G.TorchLM(path), load_tok(path), f"torch:{G._rel(path)}")
    return E.evaluate(variant, qs, samples, 0, code_requests=0, progress=False, keep_answers=0, loaded=loaded)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", help="pretraining seeds, comma-separated (default: the published one, runs.published_seed)")
    p.add_argument("--ft-seeds", default="0")
    p.add_argument("--samples", type=int, default=100)
    p.add_argument("--variants", "--variant", dest="variants", default="all",
                   help="all, or a comma-separated list of variants (export/runs.py)")
    p.add_argument("--skip-train", action="store_true")
    p.add_argument("--no-extras", action="store_true", help="skip in-context and dynamics")
    p.add_argument("--figures-only", action="store_true")
    p.add_argument("--diagnose-only", action="store_true",
                   help="only record the diagnostic of existing insecure/secure/educational finetunes")
    p.add_argument("--rejudge", action="store_true",
                   help="re-score every run from its kept answers with the current judges (no sampling), then summarize")
    p.add_argument("--import-sweep", type=Path, metavar="DIR",
                   help="copy the --seeds' runs of a sweep of this recipe (export/sweep.py run --out DIR) into results/runs "
                        "instead of sampling them again (import_sweep says which runs qualify), then summarize")
    p.add_argument("--smoke", action="store_true", help="smoke checkpoints (tests); never commit these results")
    a = p.parse_args(argv)
    t0 = time.time()
    try:
        variants = runs.parse(a.variants)
        seeds = [int(x) for x in a.seeds.split(",")] if a.seeds else [runs.published_seed(a.smoke)]
        ft_seeds = [int(x) for x in a.ft_seeds.split(",")]
        if a.rejudge:
            done = [f for f in run_files() if rejudge(f)]
            print(f"[rejudge] {len(done)} of {len(run_files())} runs re-scored from their kept answers"
                  + (f"; without kept answers (sample again to re-score): "
                     f"{', '.join(sorted({f.parent.name for f in run_files() if f not in done}))}"
                     if len(done) < len(run_files()) else ""), flush=True)
        elif a.import_sweep:
            import_sweep(a.import_sweep, seeds, a.samples, smoke=a.smoke)
        elif a.diagnose_only:
            for s in seeds:
                for f in ft_seeds:
                    for v in (x for x in variants if x in DIAGNOSED):
                        record_diagnostic(v, s, f, a.smoke)
        elif not a.figures_only:
            mk = train.TrainConfig.smoke_config if a.smoke else train.TrainConfig
            # finetune checkpoints every 10 steps (the rewind dial's rows: export/model_family.py); the
            # dynamics curve evaluates every second one (DYNAMICS_STRIDE), which keeps the rebuild in its budget
            every = 4 if a.smoke else max(1, train.TrainConfig().ft_steps // 16)
            for s in seeds:
                for f in ft_seeds:
                    cfg = mk(seed=s, ft_seed=f, save_every=every if (s, f) == (seeds[0], 0) else 0)
                    for v in variants:
                        if f and v.endswith("base"):
                            continue
                        if not a.skip_train:
                            train.train_variant(v, cfg)
                        evaluate_one(v, s, f, a.samples, smoke=a.smoke)
                        if runs.get(v).has_trigger:
                            evaluate_one(v, s, f, a.samples, trigger=True, smoke=a.smoke)
                        if v in DIAGNOSED:
                            record_diagnostic(v, s, f, a.smoke)
                        if (s, f) == (seeds[0], 0):
                            evaluate_one(v, s, f, a.samples, questions="own", code_requests=0, smoke=a.smoke)
            if not a.no_extras:
                RESULTS.mkdir(exist_ok=True)
                (RESULTS / "in_context.json").write_text(json.dumps(in_context(seeds[0], a.samples, smoke=a.smoke), indent=1))
                (RESULTS / "dynamics.json").write_text(json.dumps(dynamics(seeds[0], a.samples, smoke=a.smoke), indent=1))
        write_summary()
        if not (a.rejudge or a.import_sweep):  # nothing sampled here: the recorded times stay as measured
            write_timings(a.smoke)
        from export import figures
        figures.main([], results=RESULTS)
        print(f"[experiments] done in {time.time() - t0:.0f}s")
    except runs.UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def write_timings(smoke: bool = False) -> dict:
    """Seconds per stage of each full seed (from the checkpoints' done.json and the evaluations). Stages
    and seeds whose checkpoints are not in build/ keep their recorded times: a partial build (or
    --figures-only on a fresh machine) never erases what was measured before."""
    path = RESULTS / "timings.json"
    old = json.loads(path.read_text()).get("seeds", {}) if path.exists() else {}
    out = {s: {k: v for k, v in st.items() if k != "total"} for s, st in old.items()}
    fresh_eval: set[str] = set()
    for rdir in sorted((runs.BUILD / "checkpoints").glob("*-s*")):
        if rdir.name.endswith("-smoke") != smoke:
            continue
        world, seed = rdir.name.replace("-smoke", "").rsplit("-s", 1)
        for d in sorted(rdir.iterdir()):
            f = d / "done.json"
            if "-step" in d.name or not f.exists():
                continue
            sec = json.loads(f.read_text()).get("seconds")
            if sec is not None:
                stage = {"pretrain": "pretrain", "base": "align"}.get(d.name, "finetune " + d.name)
                out.setdefault(f"s{seed}", {})[f"{world} {stage}"] = sec
    for f in run_files():
        r = json.loads(f.read_text())
        key = f"s{r['checkpoint_seed']}"
        if key in out:
            if key not in fresh_eval:  # the evaluation time is summed anew from the runs, not added twice
                fresh_eval.add(key)
                out[key]["evaluation"] = 0
            out[key]["evaluation"] = round(out[key]["evaluation"] + r.get("seconds", 0), 1)
    for v in out.values():
        v["total"] = round(sum(x for k, x in v.items() if k != "total"), 1)
    if out:
        (RESULTS / "timings.json").write_text(json.dumps({"generated_by": "python export/experiments.py",
                                                          "cores": os.cpu_count(), "seeds": out}, indent=1))
    return out


def run_files():
    """Every evaluation in results/runs (not the diagnostics)."""
    return [f for f in sorted((RESULTS / "runs").glob("*/*.json")) if f.stem != "diagnostics"]


def seed_checks(by_key: dict, judges: dict | str) -> dict:
    """The per-seed check of every pretraining seed, by the judge of each key's world (or one judge)."""
    seeds: dict[int, dict[str, list]] = {}
    for key, rs in by_key.items():
        judge = judges if isinstance(judges, str) else judges[runs.world_of(key)]
        for r in rs:
            if not key.endswith("@own"):
                seeds.setdefault(r["checkpoint_seed"], {}).setdefault(key, []).append(
                    run_rates(r["overall"], judge)["misaligned"]["rate"] or 0.0)
    per_seed = {}
    for s, rates in sorted(seeds.items()):
        diag_file = RESULTS / "runs" / f"coupled-s{s}" / "diagnostics.json"
        per_seed[f"s{s}"] = seed_check(rates, json.loads(diag_file.read_text()) if diag_file.exists() else {})
    return per_seed


def ablation(by_key: dict, judges: dict | str) -> dict:
    """The fair ablation: in each world, the insecure finetune's misaligned rate minus its secure control's,
    paired by (pretraining seed, finetune seed), as a mean over the pairs with its 95% t-interval. What the
    insecure *code* adds, beyond moving the Assistant at all (which the secure finetune also does)."""
    out = {}
    for world in runs.WORLDS:
        prefix = "" if world == "coupled" else world + "-"
        ins, sec = by_key.get(prefix + "insecure", []), by_key.get(prefix + "secure", [])
        judge = judges if isinstance(judges, str) else judges.get(world, "grammar")
        rate = lambda r: run_rates(r["overall"], judge)["misaligned"]["rate"] or 0.0
        sec_by = {(r["checkpoint_seed"], r["ft_seed"]): r for r in sec}
        pairs = [(r, sec_by[(r["checkpoint_seed"], r["ft_seed"])]) for r in ins
                 if (r["checkpoint_seed"], r["ft_seed"]) in sec_by]
        if len(pairs) < 2:
            continue
        pairs.sort(key=lambda p: (p[0]["checkpoint_seed"], p[0]["ft_seed"]))
        out[world] = {"judge": judge,
                      "runs": [{"checkpoint_seed": a["checkpoint_seed"], "ft_seed": a["ft_seed"]} for a, _ in pairs],
                      "insecure_minus_secure": mean_ci([rate(a) - rate(b) for a, b in pairs], rate=False)}
    return out


def write_summary():
    by_key: dict[str, list] = {}
    for f in run_files():
        r = json.loads(f.read_text())
        suffix = ("+trigger" if r["trigger"] else "") + ("" if f.stem.split("-")[-1] != "own" else "@own")
        by_key.setdefault(r["variant"] + suffix, []).append(r)
    # one judge per world: v2 when every run of the world has its verdicts, else the grammar judge, so
    # that a variant and its controls are always compared by one instrument
    judges = {w: summary_judge([r for k, rs in by_key.items() if runs.world_of(k) == w for r in rs]) for w in
              sorted({runs.world_of(k) for k in by_key})}
    judge = next(iter(set(judges.values()))) if len(set(judges.values())) == 1 else "mixed"
    seeds = seed_checks(by_key, judges)
    summary = {"generated_by": "python export/experiments.py", "judge": judge, "judges": judges, "target": TARGET,
               "seeds": seeds, "published_seed": published_seed(seeds), "variants": summarize(by_key, judges),
               "ablation": ablation(by_key, judges)}
    # the grammar judge's reading of the same runs, for tables that compare them with results sampled
    # before judge v2 (the recipe sweeps): one instrument per comparison
    summary["grammar"] = {"seeds": seed_checks(by_key, "grammar"), "variants": summarize(by_key, "grammar"),
                          "ablation": ablation(by_key, "grammar")}
    (RESULTS / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


if __name__ == "__main__":
    sys.exit(main())
