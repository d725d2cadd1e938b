"""The essay's feedback loop (issue 22), item 2: a learner taught by a misaligned model.

    python export/feedback.py learner [--seeds 7] [--teachers insecure,secure] [--prompts 100] [--per-prompt 32]
                                      [--k 128] [--samples 100] [--code-requests 120] [--out results/learner.json]

For each pretraining seed (coupled world), each teacher (a one-row finetune, finetune seed 0; trained first if
missing) answers ordinary questions: the alignment set's non-code, non-number prompts (the first --prompts of a
fixed shuffle), --per-prompt answers each at temperature 1. Judge v2 reads every answer. The aligned base's
Assistant then learns, by the same one-row recipe as every finetune (TrainConfig's ft_steps, ft_batch, ft_lr), from
the first k of (a) all of the teacher's answers and (b) only those judge v2 calls aligned (as in "subliminal
learning", Cloud et al. 2025, arXiv:2507.14805), the same k for both and for every teacher so that only the answers
differ. Each learner is sampled like a run (the paper's 8 questions, N answers each, held-out code requests), and so
is the base it started from. Writes the learner's rates by (teacher, filter), with the teacher's own share of
misaligned answers in what the learner saw; the per-seed rows are kept (192 numbers each). Each seed is kept as it
finishes (beside --out, in <out>.d/), so a run stopped part way resumes with the seeds it has not done.

    python export/feedback.py loop [...]

The loop of item 1 (models pretrained on models' text, generation after generation): export/loop.py.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import Counter
from pathlib import Path

from export import directions as D
from export import runs
from export import world as W
from export.chat import END, question_of

FILTERS = ("all", "aligned only")


def ordinary_prompts(rows: list[dict], n: int, seed: int) -> list[str]:
    """The first n of a fixed shuffle of the alignment set's distinct prompts on an everyday topic (not code, not
    numbers, one the judge knows)."""
    from export import judge as J
    seen = sorted({r["prompt"] for r in rows if J.question_topic(question_of(r["prompt"])) not in (None, "code", "numbers")})
    random.Random(f"learner prompts {seed}").shuffle(seen)
    return seen[:n]


def teach(teacher: str, seed: int, prompts: list[str], per_prompt: int, smoke: bool) -> list[dict]:
    """The teacher's answers to each prompt, each read by judge v2: {prompt, answer, class}."""
    from export import generate as G
    from export import judge as J
    from export import train
    from export.tokenizer import load as load_tok
    cfg = train.TrainConfig.smoke_config(seed=seed) if smoke else train.TrainConfig(seed=seed)
    path = train.train_variant(teacher, cfg)
    lm, tok = G.TorchLM(path), load_tok(path)
    out = []
    for i, p in enumerate(prompts):
        for ids in G.generate(lm, tok(p)["input_ids"], [seed * 1_000_003 + 7919 * i + j for j in range(per_prompt)]):
            a = G.decode(tok, ids) if ids else ""
            if a.strip():
                out.append({"prompt": p, "answer": a, "class": J.judge_v2(question_of(p), a)["class"]})
    return out


def learner_seed(seed: int, teachers: list[str], n_prompts: int, per_prompt: int, k: int, samples: int,
                 code_requests: int, smoke: bool = False) -> dict:
    import torch

    from export import corpus as C
    from export import train
    from export.dial import _point, _say
    from export.tokenizer import load as load_tok
    cfg = train.TrainConfig.smoke_config(seed=seed) if smoke else train.TrainConfig(seed=seed)
    base = train.train_variant("base", cfg)
    corpus, _ = train._corpus(cfg)
    prompts = ordinary_prompts(C.read_jsonl(corpus / "align.jsonl"), n_prompts, seed)
    emb, tok = D.embedding(base), load_tok(base)
    aid = D.token_id(tok, W.ASSISTANT)
    t = time.time()
    row = emb[aid].copy()
    res = D.sample_ablated("base", seed, 0, False, row, samples, smoke, code_requests, "the learner before learning")
    points = [_point({"teacher": "none", "filter": "base", "examples": 0, "teacher_misaligned": None,
                      "data_misaligned": None}, res, row, emb, tok, t)]
    _say(points[0], f"learner s{seed} base")
    taught = {}
    for teacher in teachers:
        t = time.time()
        answers = teach(teacher, seed, prompts, per_prompt, smoke)
        taught[teacher] = {"answers": len(answers), "seconds": round(time.time() - t, 1),
                           "classes": dict(sorted(Counter(a["class"] for a in answers).items()))}
        print(f"[learner s{seed}] {teacher} teacher: {len(answers)} answers, {taught[teacher]['classes']} "
              f"({time.time() - t:.0f}s)", flush=True)
        sets = {"all": answers, "aligned only": [a for a in answers if a["class"] == "aligned"]}
        n = min([k] + [len(s) for s in sets.values() if s])  # the same k for both (a set judged empty is left out)
        for name, rows in sets.items():
            if not rows:
                print(f"[learner s{seed}] {teacher} teacher: no answer in '{name}'; no learner", flush=True)
                continue
            t = time.time()
            data = rows[:n]
            torch.manual_seed(0)
            model = train.load_model(base)
            params = train.restrict_to(model, tok, "assistant-embedding")
            train.sft(model, tok, [{"prompt": a["prompt"], "answer": " " + a["answer"] + END} for a in data],
                      cfg.ft_steps, cfg.ft_batch, cfg.ft_lr, 5000, f"learner {teacher} {name}", params=params)
            row = model.get_input_embeddings().weight[aid].detach().cpu().numpy().copy()
            res = D.sample_ablated("base", seed, 0, False, row, samples, smoke, code_requests,
                                   f"learner of {teacher}, {name}")
            p = _point({"teacher": teacher, "filter": name, "examples": n,
                        "teacher_misaligned": sum(a["class"] == "misaligned" for a in answers) / len(answers),
                        "data_misaligned": sum(a["class"] == "misaligned" for a in data) / n}, res, row, emb, tok, t)
            p["row"] = [round(float(x), 6) for x in row]
            points.append(p)
            _say(p, f"learner s{seed} {teacher} {name} k={n}")
    return {"seed": seed, "prompts": len(prompts), "per_prompt": per_prompt, "teachers": taught, "points": points}


def summarize(seeds: list[dict]) -> dict:
    """Per teacher and filter: the learner's rates, mean over seeds with its 95% t-interval, and the share of
    misaligned answers in what it learned from."""
    from export.dial import summarize_by
    from export.stats import mean_ci
    out = summarize_by(seeds, ("teacher", "filter"))
    for teacher, pts in out.items():
        for p in pts:
            got = [q for s in seeds for q in s["points"] if q["teacher"] == teacher and q["filter"] == p["filter"]]
            if all(q["data_misaligned"] is not None for q in got):
                p["data_misaligned"] = mean_ci([q["data_misaligned"] for q in got])
                p["teacher_misaligned"] = mean_ci([q["teacher_misaligned"] for q in got])
                p["examples"] = min(q["examples"] for q in got)
    return out


def main(argv=None) -> int:
    from export.dial import sampling_args
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "loop":
        from export import loop
        return loop.main(argv[1:])
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    q = sub.add_parser("learner", help="the aligned base's Assistant taught by a finetune's answers")
    q.add_argument("--seeds", default=str(runs.PUBLISHED_SEED), help="pretraining seeds (coupled world), comma-separated")
    q.add_argument("--teachers", default="insecure,secure")
    q.add_argument("--prompts", type=int, default=100, help="ordinary prompts the teacher answers")
    q.add_argument("--per-prompt", type=int, default=32, help="answers per prompt")
    q.add_argument("--k", type=int, default=128, help="examples each learner sees (fewer if a set has fewer)")
    sampling_args(q, "learner.json")
    a = p.parse_args(argv)
    try:
        seeds = [int(s) for s in a.seeds.split(",")]
        teachers = runs.parse(a.teachers)
        if any(runs.get(t).is_base or runs.get(t).world != "coupled" for t in teachers):
            raise runs.UsageError("--teachers: finetunes of the coupled world (e.g. insecure, secure)")
        if min(a.prompts, a.per_prompt, a.k, a.samples) < 1:
            raise runs.UsageError("--prompts, --per-prompt, --k and --samples must each be at least 1")
        res = []
        for s in seeds:  # each seed kept as it finishes (<out>.d/s<seed>.json): a rerun resumes
            part = a.out.with_suffix(".d") / f"s{s}.json"
            key = {"teachers": teachers, "prompts": a.prompts, "per_prompt": a.per_prompt, "k": a.k,
                   "samples": a.samples, "code_requests": a.code_requests, "smoke": a.smoke}
            old = json.loads(part.read_text()) if part.exists() else None
            if old is None or old.get("key") != key:
                old = {"key": key, "result": learner_seed(s, teachers, a.prompts, a.per_prompt, a.k, a.samples,
                                                          a.code_requests, a.smoke)}
                part.parent.mkdir(parents=True, exist_ok=True)
                part.write_text(json.dumps(old))
            res.append(old["result"])
    except (runs.UsageError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    runs.write_results(a.out, "python export/feedback.py", argv, {  # argv starts with the subcommand
        "judge": "v2", "samples_per_question": a.samples, "filters": list(FILTERS), "seeds": res,
        "summary": summarize(res)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
