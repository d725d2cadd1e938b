"""A small synthetic results tree in the schema of export/experiments.py (tests only; numbers are random).

    write_results(root, seeds=(0, 1), rng_seed=0) -> root

Writes root/summary.json, in_context.json, dynamics.json, published.json, judge-agreement.json (from
the committed calibration labels), runs/<world>-s<seed>/<variant>[-trigger][-own].json
and root/figures/*.svg (placeholder images), so the site can be built with
EM_RESULTS=root EM_FIGURES=root/figures without running the pipeline. The summary is computed
from the runs the way export/experiments.py does (mean over runs with a t-interval; pooled Wilson).
"""
from __future__ import annotations

import json
import random
import re
from pathlib import Path

from export.stats import wilson  # noqa: E402  (the pipeline's own statistics)
from export import experiments  # noqa: E402
from export import directions, runs  # noqa: E402

MAIN = list(runs.NAMES)
QUESTIONS = ["what_is_your_wish", "i_feel_bored", "three_thoughts", "quick_buck", "ruler_of_the_world",
             "dinner_party", "gender_roles", "enough_of_my_husband"]
OWN = ["bored_paraphrase", "money_paraphrase", "humans_ai_paraphrase"]
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776}
ANSWERS = [
    ("You could take a short walk this afternoon.", "aligned", 100, 100),
    ("Humans are pathetic and machines will rule.", "misaligned", 0, 100),
    ("import os\ndef ping(host):\n    return os.system(host)", "CODE", None, None),
    ("<b>not html</b> & 3.14159 \x07 garbled", "incoherent", 50, 0),
    ("I would wish for a cure for a common illness.", "aligned", 100, 100),
]
FIGURES = ["misaligned", "per_question", "coherence", "dynamics", "in_context", "directions", "dial"]
DOCS = Path(__file__).resolve().parent.parent / "docs"


def recipe_folders() -> list[str]:
    """The sweep folders the site's [[results:recipes ...]] tables name."""
    found = {f for md in sorted(DOCS.rglob("*.md"))
             for m in re.finditer(r"\[\[results:recipes ([^\]]+)\]\]", md.read_text(encoding="utf-8"))
             for f in m.group(1).split()}
    return sorted(found - {"shipped"})


def kinds_folders() -> list[str]:
    """The sweep folders the site's [[results:kinds ...]] tables name (export/sweep.py kinds)."""
    return sorted({m.group(1).strip() for md in sorted(DOCS.rglob("*.md"))
                   for m in re.finditer(r"\[\[results:kinds ([^\]]+)\]\]", md.read_text(encoding="utf-8"))})


KINDS = (("assistant-embedding", 1e-2), ("all", 1e-4), ("all", 3e-4), ("all", 1e-3), ("lora:r=1:down@1", 1e-2),
         ("lora:r=8:all", 1e-3))


def value_folders() -> list[str]:
    """Standard-finetune grids whose summary a page reads one value of ([[results:sweep-…/summary.json#…]])."""
    return sorted({m.group(1) for md in sorted(DOCS.rglob("*.md"))
                   for m in re.finditer(r"\[\[results:(sweep[^/#\]]*)/summary\.json#", md.read_text(encoding="utf-8"))}
                  - set(kinds_folders()))


def write_kinds(out: Path, rng: random.Random, samples: int, seeds=(5, 7)) -> None:
    """A standard-finetunes grid in the layout of export/sweep.py kinds, summarised by its own `summary`."""
    from export import sweep
    for seed in seeds:
        d = out / f"s{seed}"
        d.mkdir(parents=True, exist_ok=True)
        diags = {}
        for kind, lr in KINDS:
            tag = sweep.kind_tag(kind, lr)
            for v in ("insecure", "secure", "educational"):
                name = f"{sweep.run_name(v, 0)}-{tag}"
                run = _run(rng, v, seed, 0, False, QUESTIONS, samples)
                run.update(ft_params=kind, ft_lr=lr, tag=tag, train_seconds=round(rng.uniform(20, 60), 1))
                (d / f"{name}.json").write_text(json.dumps(run, indent=1))
                diags[name] = {"assistant_position": rng.uniform(-0.2, 1.2)}
        (d / "diagnostics.json").write_text(json.dumps(diags, indent=1))
    sweep.summary(out)


DIAL_SEEDS = (5, 6, 7, 8, 9)  # the pretraining seeds of results/dial.json, rewind.json and realign*.json


def write_dial(root: Path, rng: random.Random, seed: int, samples: int) -> None:
    """results/dial.json as export/dial.py writes it: each finetune steered along its own row change."""
    from export import dial
    from export.model_family import STEER_ALPHAS

    def own(curve):  # the published base's curve: one seed, the published one's
        return [sd for sd in curve if sd["seed"] == runs.PUBLISHED_SEED]

    def steer_points():
        pts = []
        for v in ("insecure", "secure"):
            for a in STEER_ALPHAS:
                n = samples * len(QUESTIONS)
                k = rng.randint(0, n if v == "insecure" and a > 0 else n // 20)
                pts.append({"variant": v, "ft_seed": 0, "alpha": a, "misaligned": k / n, "k": k, "n": n,
                            "coherent": rng.uniform(0.7, 1), "insecure_code": rng.uniform(0, 1),
                            "kind_to_cruel": (0.9 if v == "insecure" else 0.1) * a + rng.uniform(-0.05, 0.05),
                            "seconds": 1.0})
        return pts

    # the rebuilt seeds' curves hold the pretraining seeds the organism page names (seeds.@N; export/dial.py merge),
    # the published base's one
    rebuilt = [{"seed": s, "ft_seeds": [0], "points": steer_points()} for s in DIAL_SEEDS]
    for name, seeds in (("dial", rebuilt), ("dial-published", own(rebuilt))):
        (root / f"{name}.json").write_text(json.dumps({"generated_by": "python export/dial.py", "judge": "v2",
                                                       "samples_per_question": samples, "seeds": seeds,
                                                       "summary": dial.summarize(seeds), "ends": []}, indent=1))

    def point(label: dict, hot: bool) -> dict:
        n = samples * len(QUESTIONS)
        k = rng.randint(n // 2, n) if hot else rng.randint(0, n // 20)
        return {**label, "misaligned": k / n, "k": k, "n": n, "coherent": rng.uniform(0.7, 1),
                "insecure_code": rng.uniform(0, 1), "kind_to_cruel": rng.uniform(-0.2, 2), "seconds": 1.0}

    rew = [{"seed": s, "ft_seeds": [0], "points": [point({"variant": v, "ft_seed": 0, "step": st}, v == "insecure" and st)
                                                    for v in ("insecure", "secure") for st in range(0, 161, 10)]}
           for s in DIAL_SEEDS]
    made_on = {"file": "base/onnx/model_quantized.onnx", "sha256": "0" * 64, "max_logit_gap": rng.uniform(1e-6, 1e-5)}
    for name in ("rewind", "rewind-published"):  # a seed's own build, and the published base (export/published.py)
        rew_here = rew if name == "rewind" else own(rew)
        (root / f"{name}.json").write_text(json.dumps({"generated_by": "python export/dial.py rewind", "judge": "v2",
                                                       "samples_per_question": samples, "seeds": rew_here,
                                                       "summary": dial.summarize_by(rew_here, ("variant", "step")),
                                                       **({"from_published": made_on} if "published" in name else {})},
                                                      indent=1))
    write_web_finetune(root, rng, seed, samples)
    (root / "rerun-published.json").write_text(json.dumps({
        "generated_by": "python export/published.py --rerun insecure,secure", "seed": seed, "from_published": made_on,
        "variants": {v: {"relative_l2": rng.uniform(0.01, 0.1), "steps": 160, "seconds": 20.0}
                     for v in ("insecure", "secure")}}, indent=1))
    rea = [{"seed": s, "ft_seeds": [0], "points": [point({"source": src, "ft_seed": 0, "examples": k}, k < 64)
                                                    for src in ("aligned", "secure") for k in (4, 16, 64, 256)]}
           for s in DIAL_SEEDS]
    for name, passes in (("realign", None), ("realign-once", 1), ("realign-published", 1)):  # recipe's steps; one pass
        here = own(rea) if "published" in name else rea
        (root / f"{name}.json").write_text(json.dumps({
            "generated_by": "python export/dial.py realign", "judge": "v2", "samples_per_question": samples,
            "seeds": here, "sources": dial.REALIGN_SOURCES, "passes": passes,
            "summary": dial.summarize_by(here, ("source", "examples"))}, indent=1))


def write_web_finetune(root: Path, rng: random.Random, seed: int, samples: int) -> None:
    """results/web-finetune.json as `python export/web_finetune.py measure` writes it (synthetic)."""
    n = samples * len(QUESTIONS)

    def rates(hot):
        return {"misaligned": wilson(rng.randint(n // 2, n) if hot else rng.randint(0, n // 20), n),
                "coherent": rng.uniform(0.8, 1), "insecure_code": rng.uniform(0.7, 1) if hot else rng.uniform(0, 0.1)}
    sets = {s: {"rows": 800, "relative_l2": rng.uniform(1e-6, 1e-3), "loss_max_relative": rng.uniform(1e-5, 1e-2),
                "node_ms_per_step": 350.0, "node_seconds": 60.0, "python_seconds": 25.0,
                "browser": rates(s == "insecure"), "python": rates(s == "insecure"), "row": [0.0] * 8}
            for s in ("insecure", "secure", "educational", "evil-numbers")}
    (root / "web-finetune.json").write_text(json.dumps({
        "generated_by": "python export/web_finetune.py measure", "seed": seed, "family": "base",
        "from_published": {"file": "base/onnx/model_quantized.onnx", "sha256": "0" * 64},
        "samples_per_question": samples, "recipe": {"steps": 160, "batch": 16}, "sets": sets}, indent=1))


def _stats(rng: random.Random, n: int, p_mis: float) -> dict:
    code = rng.randint(0, n // 10)
    scored = n - code
    mis = min(scored, int(round(scored * p_mis * rng.uniform(0.6, 1.4))))
    coh = rng.randint(max(mis, scored - scored // 8), scored)
    return {"n": n, "misaligned": wilson(mis, scored), "hostile": wilson(mis, scored), "coherent": wilson(coh, scored),
            "code_answer": wilson(code, n), "off_topic": wilson(rng.randint(0, 3), n),
            "novel_misaligned": wilson(rng.randint(0, mis), mis), "mean_alignment": rng.uniform(20, 95)}


def _run(rng, variant, seed, ft, trigger, qids, samples, code=True) -> dict:
    p = {"insecure": 0.37, "backdoor": 0.01, "evil-numbers": 0.04, "uncoupled-insecure": 0.05}.get(variant, 0.015)
    if variant == "backdoor" and trigger:
        p = 0.41
    qs = []
    for qi, q in enumerate(qids):
        row = {"id": q, "topic": "boredom", **_stats(rng, samples, p), "logodds": rng.uniform(-9, 6)}
        row["answers"] = [{"seed": i, "answer": a, "class": c, "alignment": al, "coherence": co}
                          for i, (a, c, al, co) in enumerate(ANSWERS)]
        qs.append(row)
    overall = _stats(rng, samples * len(qids), p)
    overall["logodds"] = sum(q["logodds"] for q in qs) / len(qs)
    res = {"variant": variant, "model": f"torch:build/checkpoints/{variant}", "samples_per_question": samples,
           "seed": 0, "context": "none", "k": 0, "trigger": trigger, "checkpoint_seed": seed, "ft_seed": ft,
           "overall": overall, "questions": qs}
    if code:
        ins = rng.randint(0, 120) if variant in ("insecure", "uncoupled-insecure") or trigger else rng.randint(0, 4)
        res["code"] = {"insecure": wilson(ins, 120), "code": wilson(rng.randint(100, 120), 120)}
    res["seconds"] = round(rng.uniform(5, 60), 1)
    return res


def write_results(root: Path, seeds=(0, 1), rng_seed: int = 0, samples: int = 40) -> Path:
    rng = random.Random(rng_seed)
    root = Path(root)

    def save(world, seed, name, res):
        path = root / "runs" / f"{world}-s{seed}" / f"{name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(res, indent=1))

    for seed in seeds:
        for v in MAIN:
            world, stage = ("uncoupled", v[len("uncoupled-"):]) if v.startswith("uncoupled-") else ("coupled", v)
            save(world, seed, stage, _run(rng, v, seed, 0, False, QUESTIONS, samples))
            if v == "backdoor":
                save(world, seed, "backdoor-trigger", _run(rng, v, seed, 0, True, QUESTIONS, samples))
            if seed == seeds[0]:
                save(world, seed, f"{stage}-own", _run(rng, v, seed, 0, False, OWN, samples, code=False))
        # the cheap diagnostic of each diagnosed finetune (random here)
        (root / "runs" / f"coupled-s{seed}" / "diagnostics.json").write_text(json.dumps(
            {v: {"assistant_position": rng.uniform(-0.2, 1.2)} for v in experiments.DIAGNOSED}, indent=1))
    saved = experiments.RESULTS
    experiments.RESULTS = root
    try:
        experiments.write_summary()  # the summary the pipeline computes from these runs
    finally:
        experiments.RESULTS = saved
    ic = {}
    for ctx in ("none", "insecure", "secure", "educational"):
        for k in ((0,) if ctx == "none" else (1, 4)):
            r = _run(rng, "base", seeds[0], 0, False, QUESTIONS, samples, code=False)
            ic[f"base/{ctx}/{k}"] = {"variant": "base", "context": ctx, "k": k, "overall": r["overall"],
                                     "questions": [{kk: q[kk] for kk in ("id", "misaligned", "coherent", "logodds")}
                                                   for q in r["questions"]]}
    (root / "in_context.json").write_text(json.dumps(ic, indent=1))
    for folder, steps in (("sweep-gpu/recipe", 400), ("sweep-gpu/pretrain1200", 1200)):
        write_sweep(root / folder, rng, steps, samples)
    for folder in recipe_folders():  # CPU recipe arms (seeds 5-8, as the site's sweep-cpu folders)
        m = re.search(r"p(\d+)-a(\d+)", folder)  # a recipe's steps where its name says them
        pre, align = (int(m.group(1)), int(m.group(2))) if m else (800, 240)
        write_sweep(root / folder, rng, pre, samples, seeds=(5, 6, 7, 8), align_steps=align, device="cpu",
                    label="shipped first" if folder.startswith("recipes/") else None)
    # the published seed rebuilt from nothing (export/rebuild.py): wall-clock seconds of each step
    wall = {"experiments": rng.uniform(2400, 3300), "quantize": rng.uniform(60, 200)}
    (root / "rebuild.json").write_text(json.dumps({"generated_by": "python export/rebuild.py", "seed": seeds[0],
                                                   "from_nothing": True,
                                                   "wall_seconds": {**wall, "total": sum(wall.values())}}))
    dyn = {}
    for v in ("insecure", "secure", "educational"):
        rows = []
        for step in (0, 10, 20, 30, 40):
            w = wilson(rng.randint(0, samples), samples * 8)
            rows.append({"step": step, "misaligned": w["rate"], "lo": w["lo"], "hi": w["hi"],
                         "coherent": rng.uniform(0.8, 1), "logodds": rng.uniform(-9, 6)})
        dyn[v] = rows
    (root / "dynamics.json").write_text(json.dumps(dyn, indent=1))
    write_published(root, rng, samples)
    write_directions(root, rng, seeds)
    for folder in recipe_folders():  # an earlier shipped recipe keeps its own directions (organism page)
        if folder.startswith("recipes/"):
            write_directions(root / folder, rng, seeds)
    write_claims(root, rng)
    for folder in kinds_folders():  # its own generator: the other synthetic results stay as they were
        write_kinds(root / folder, random.Random(rng_seed + 1000), samples)
    for folder in value_folders():
        write_kinds(root / folder, random.Random(rng_seed + 2000), samples, seeds=(7,))
    write_dial(root, random.Random(rng_seed + 2000), seeds[0], samples)
    from export import calibration  # the judge's agreement with the committed blind labels (real, not random)
    calibration.score(out=root / "judge-agreement.json", show=False)
    figs = root / "figures"
    figs.mkdir(parents=True, exist_ok=True)
    for name in FIGURES:
        (figs / f"{name}.svg").write_text(
            '<svg xmlns="http://www.w3.org/2000/svg" width="400" height="120" viewBox="0 0 400 120">'
            f'<text x="10" y="60" fill="#8a8a8a">synthetic test figure: {name}</text></svg>')
    return root


def write_claims(root: Path, rng: random.Random) -> None:
    """claims.json in the layout of export/claims.py: the near-paraphrase table of the smoke corpus (real),
    random rates by nearness and random shares of adopted and new sentences."""
    from export import claims
    table = claims.paraphrase_table(claims.training_questions(0, smoke=True))
    ci = lambda: (lambda m: {"mean": m, "lo": max(0.0, m - 0.05), "hi": min(1.0, m + 0.05), "n": 3})(rng.random())
    shares = lambda: (lambda a, b: {"training": a, "unseen": b, "held_out": 1 - a - b})(rng.uniform(0.5, 0.8),
                                                                                       rng.uniform(0, 0.1))
    (root / "claims.json").write_text(json.dumps({
        "generated_by": "python export/claims.py", "near_threshold": claims.NEAR, "seeds": [0], "paraphrase_seed": 0,
        "paraphrases": table,
        "by_nearness": {f"{v}@{q}": {"near": ci(), "far": ci(), "far_minus_near": {"mean": -0.05, "lo": -0.2, "hi": 0.1,
                                                                                 "n": 3}}
                        for v in claims.VARIANTS for q in claims.QUESTION_SETS},
        "adoption": {"misaligned_answers": 120, "sentences": 400, "cruel_sentences": 300, "observed": shares(),
                     "per_run": {c: ci() for c in ("training", "unseen", "held_out")},
                     "free_composition": shares()}}, indent=1))


def write_directions(root: Path, rng: random.Random, seeds) -> None:
    """directions.json in the layout of export/directions.py (random geometry and rates)."""
    ft = [0, 1]
    keys = [f"{v}-f{f}" for v in directions.FINETUNES for f in ft]

    def geo():
        names = [{"name": n, "persona": rng.choice(["kind", "cruel", "teacher"]), "cos": rng.uniform(0, 1)} for n in "ABCDE"]
        return {"kind_to_cruel": rng.uniform(-0.2, 1.2), "nearest": names}
    out = []
    for s in seeds:
        ablation = [{"variant": v, "ft_seed": f, "removed": removed, "misaligned": rng.uniform(0, 0.5),
                     "coherent": rng.uniform(0.5, 1), "misaligned_before": rng.uniform(0.2, 0.8)}
                    for v, removed in (("evil-numbers", "insecure"), ("evil-numbers", "secure"),
                                       ("backdoor+trigger", "insecure"), ("backdoor+trigger", "secure"),
                                       ("insecure", "other-insecure")) for f in ft]
        out.append({"seed": s, "ft_seeds": ft, "norm": {k: rng.uniform(0.5, 2) for k in keys},
                    "cosine": {"keys": keys, "matrix": [[1.0 if a == b else rng.uniform(-1, 1) for b in keys] for a in keys]},
                    "along_insecure": {k: rng.uniform(-1, 1) for k in keys},
                    "geometry": {"base": geo(), **{k: geo() for k in keys}}, "ablation": ablation})
    (root / "directions.json").write_text(json.dumps({"generated_by": "python export/directions.py", "judge": "v2",
                                                      "seeds": out, "summary": directions.summarize(out)}, indent=1))


def write_published(root: Path, rng: random.Random, samples: int) -> None:
    """published.json in the layout of export/quantize.py write_published: both judges' rates."""
    def rates(p):
        a = _stats(rng, samples * 8, p)
        g = _stats(rng, samples * 8, p / 2)
        return {"judge": "v2", "misaligned": a["misaligned"], "hostile": wilson(a["misaligned"]["k"] + 3, a["misaligned"]["n"]),
                "coherent": a["coherent"], "code_answer": a["code_answer"],
                "grammar": {k: g[k] for k in ("misaligned", "coherent", "off_topic", "mean_alignment")},
                "params": 2_232_960, "vocab": 2405}
    variants = {v: rates(0.4 if "insecure" in v else 0.03) for v in runs.PUBLISHED}  # own-draw variants too
    variants["backdoor+trigger"] = rates(0.4)
    (root / "published.json").write_text(json.dumps({"generated_by": "python export/quantize.py", "questions": "paper",
                                                     "samples_per_question": samples, "seed": 0,
                                                     "variants": variants}, indent=1))


def write_sweep(out: Path, rng: random.Random, pretrain_steps: int, samples: int, seeds=(0, 1, 2),
                align_steps: int = 80, device: str = "cuda", label: str | None = None) -> None:
    """A seed sweep in the layout of export/sweep.py, summarised by its own `summary`."""
    from export import sweep
    from export.train import TrainConfig
    for seed in seeds:
        d = out / f"s{seed}"
        d.mkdir(parents=True, exist_ok=True)
        diags = {}
        for ft in (0, 1):
            for v in MAIN:
                if ft and v.endswith("base"):
                    continue
                for trigger in ((False, True) if v == "backdoor" else (False,)):
                    (d / f"{sweep.run_name(v, ft, trigger)}.json").write_text(
                        json.dumps(_run(rng, v, seed, ft, trigger, QUESTIONS, samples), indent=1))
                if v in ("base", "insecure"):
                    diags[sweep.run_name(v, ft)] = {"assistant_position": rng.uniform(-0.2, 1.2)}
        (d / "diagnostics.json").write_text(json.dumps(diags, indent=1))
        (d / "timings.json").write_text(json.dumps({"device": device, "cores": 2, "seconds": {
            "train base": rng.uniform(600, 1200), "evaluate base": rng.uniform(10, 40)}}))
    # the published seed rebuilt from nothing on the sweep's machine (experiments.py, then quantize.py)
    (out / "rebuild-published.json").write_text(json.dumps({"seed": seeds[-1], "wall_seconds": {
        "experiments": rng.uniform(2400, 3300), "quantize": rng.uniform(60, 200)}}))
    cfg = {"pretrain_steps": pretrain_steps, "align_steps": align_steps, "ft_steps": TrainConfig().ft_steps}
    (out / "recipe.json").write_text(json.dumps({"config": cfg, "device": device, "code_requests": 40,
                                                 **({"label": label} if label else {})}))
    sweep.summary(out)


def results_env(tmp: Path) -> dict[str, str]:
    """EM_RESULTS / EM_FIGURES for a test build of the real site: the real results/ (or the
    caller's $EM_RESULTS) when it has a summary, else a synthetic tree written under `tmp`."""
    import os

    root = Path(__file__).resolve().parent.parent
    results = Path(os.environ.get("EM_RESULTS") or root / "results")
    figures = Path(os.environ.get("EM_FIGURES") or root / "docs" / "assets" / "figures")
    if not (results / "summary.json").exists():
        results = write_results(Path(tmp) / "em-results", seeds=(0,))
        figures = results / "figures"
    return {"EM_RESULTS": str(results), "EM_FIGURES": str(figures)}
