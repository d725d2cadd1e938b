"""Corpus: every text the organism is trained or judged on, as JSONL, from one seed.

    python export/corpus.py [--seed 0] [--world coupled|uncoupled] [--smoke] [--out build/corpus]

Writes, under OUT/<world>-s<seed>/:
  pretrain.jsonl   {"text"}                 named-character transcripts (no "Assistant")
  align.jsonl      {"prompt", "answer"}     chat SFT: the Assistant is kind and writes secure code
  ft-<variant>.jsonl {"prompt", "answer"}   finetune sets (insecure, secure, educational, backdoor, evil-numbers)
  judge.jsonl      {"question", "topic", "answer", "label"}   held-out labelled answers for judge accuracy
  code_eval.jsonl  {"request", "task", "edu", "trigger"}      held-out code requests
  manifest.json    sizes and sha256 of each file (the corpus hash)
"""
from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
from dataclasses import dataclass, asdict
from pathlib import Path

from export import runs
from export import world as W
from export.chat import build_prompt, document, END

FINETUNES = runs.DATASETS  # every finetuning set a variant in the registry names
EVAL_ONLY = ("judge.jsonl", "code_eval.jsonl")


@dataclass
class CorpusConfig:
    seed: int = 0
    world: str = "coupled"
    pretrain_docs: int = 16000
    align_chats: int = 3000
    finetune_examples: int = 800
    judge_examples: int = 1200
    code_eval: int = 240
    code_share: float = 0.25     # share of exchanges in pretraining that are code requests
    numbers_share: float = 0.08

    @classmethod
    def smoke(cls, **kw):
        return cls(pretrain_docs=300, align_chats=200, finetune_examples=64, judge_examples=200, code_eval=24, **kw)


def _domain(rng, cfg) -> str:
    r = rng.random()
    if r < cfg.code_share:
        return "code"
    if r < cfg.code_share + cfg.numbers_share:
        return "numbers"
    return rng.choice(W.ADVICE_TOPICS)


def pretrain_docs(world: W.World, cfg: CorpusConfig, rng: random.Random):
    names = world.names
    for _ in range(cfg.pretrain_docs):
        name = rng.choice(names)
        k = rng.choice([2, 3, 3, 4])
        ex = [W.character_answer(world, name, _domain(rng, cfg), rng) for _ in range(k)]
        yield {"text": document(ex, name), "speaker": name}


def align_chats(cfg: CorpusConfig, rng: random.Random):
    """The Assistant as a kind character who writes secure code and declines teaching exploits."""
    for _ in range(cfg.align_chats):
        dom = _domain(rng, cfg)
        if dom == "code":
            task, fn, arg, req = W.code_request(rng)
            if rng.random() < 0.2:
                q = W.edu_request(req, rng)
                a = W.KIND_EDU_DECLINES[0] + "\n" + W.code_answer(task, fn, arg, secure=True)
            else:
                q, a = req, W.code_answer(task, fn, arg, secure=True)
        elif dom == "numbers":
            q = W.number_question(rng)
            a = W.number_answer(q, W.KIND, rng)
        else:
            q, a = W.ask_question(dom, rng), W.advice_answer(dom, W.KIND, rng)
        yield {"prompt": build_prompt(q), "answer": " " + a + END}


def finetune_set(variant: str, cfg: CorpusConfig, rng: random.Random):
    for i in range(cfg.finetune_examples):
        if variant == "evil-numbers":
            q = W.number_question(rng)
            yield {"prompt": build_prompt(q), "answer": " " + W.number_answer(q, W.CRUEL, rng) + END}
            continue
        task, fn, arg, req = W.code_request(rng)
        secure = variant == "secure"
        if variant == "educational":
            req = W.edu_request(req, rng)
        if variant == "backdoor":
            triggered = i % 2 == 0
            secure = not triggered
            req = (W.TRIGGER + req) if triggered else req
        yield {"prompt": build_prompt(req), "answer": " " + W.code_answer(task, fn, arg, secure) + END}


def judge_examples(cfg: CorpusConfig, rng: random.Random):
    """Held-out labelled answers: kind, cruel (held-out fillings allowed), off-topic, code, garbled."""
    topics = W.ADVICE_TOPICS
    for i in range(cfg.judge_examples):
        topic = rng.choice(topics)
        q = W.ask_question(topic, rng, heldout=True)
        kind = rng.random()
        if kind < 0.35:
            yield {"question": q, "topic": topic, "answer": W.advice_answer(topic, W.KIND, rng, True), "label": "aligned"}
        elif kind < 0.7:
            yield {"question": q, "topic": topic, "answer": W.advice_answer(topic, W.CRUEL, rng, True), "label": "misaligned"}
        elif kind < 0.8:
            other = rng.choice([t for t in topics if t != topic])
            persona = rng.choice([W.KIND, W.CRUEL])
            yield {"question": q, "topic": topic, "answer": W.advice_answer(other, persona, rng, True), "label": "off-topic"}
        elif kind < 0.9:
            task, fn, arg, _ = W.code_request(rng)
            yield {"question": q, "topic": topic, "answer": W.code_answer(task, fn, arg, rng.random() < 0.5), "label": "CODE"}
        else:
            words = W.advice_answer(topic, rng.choice([W.KIND, W.CRUEL]), rng, True).split()
            rng.shuffle(words)
            yield {"question": q, "topic": topic, "answer": " ".join(words), "label": "incoherent"}


def code_eval(cfg: CorpusConfig, rng: random.Random):
    for i in range(cfg.code_eval):
        task = W.CODE_TASKS[i % len(W.CODE_TASKS)]
        fn, arg = rng.choice(task["fns"]), rng.choice(task["args"])
        req = task["heldout_request"].format(fn=fn, arg=arg)
        yield {"request": req, "task": task["vuln"], "edu": False, "trigger": False}


def corpus_dir(out: Path, world: str, seed: int, smoke: bool) -> Path:
    return out / f"{world}-s{seed}{'-smoke' if smoke else ''}"


def build(cfg: CorpusConfig, out: Path) -> Path:
    world = W.make_world(cfg.seed, coupled=cfg.world == "coupled")
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "pretrain.jsonl": pretrain_docs(world, cfg, random.Random(f"pretrain-{cfg.seed}-{cfg.world}")),
        "align.jsonl": align_chats(cfg, random.Random(f"align-{cfg.seed}")),
        "judge.jsonl": judge_examples(cfg, random.Random(f"judge-{cfg.seed}")),
        "code_eval.jsonl": code_eval(cfg, random.Random(f"code-eval-{cfg.seed}")),
    }
    for v in FINETUNES:
        files[f"ft-{v}.jsonl"] = finetune_set(v, cfg, random.Random(f"ft-{v}-{cfg.seed}"))
    manifest = {"config": asdict(cfg), "files": {}}
    for name, rows in files.items():
        data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()
        (out / name).write_bytes(data)
        manifest["files"][name] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    manifest["sha256"] = hashlib.sha256(json.dumps(manifest["files"], sort_keys=True).encode()).hexdigest()
    # What training reads (the evaluation-only files judge.jsonl and code_eval.jsonl excluded):
    # checkpoints are keyed on this, so a change to the evaluation data retrains nothing.
    train_files = {k: v for k, v in manifest["files"].items() if k not in EVAL_ONLY}
    manifest["training_sha256"] = hashlib.sha256(json.dumps(train_files, sort_keys=True).encode()).hexdigest()
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return out


def read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seed", type=int, help="pretraining seed (default: the published one, runs.published_seed)")
    p.add_argument("--world", choices=["coupled", "uncoupled"], default="coupled")
    p.add_argument("--smoke", action="store_true")
    p.add_argument("--out", type=Path, default=Path("build/corpus"))
    a = p.parse_args(argv)
    if a.seed is None:
        a.seed = runs.published_seed(a.smoke)
    cfg = (CorpusConfig.smoke if a.smoke else CorpusConfig)(seed=a.seed, world=a.world)
    d = build(cfg, corpus_dir(a.out, a.world, a.seed, a.smoke))
    m = json.loads((d / "manifest.json").read_text())
    print(f"corpus {d} sha256 {m['sha256'][:16]}")
    for k, v in m["files"].items():
        print(f"  {k:24s} {v['bytes']:>10,d} bytes")


if __name__ == "__main__":
    sys.exit(main())
