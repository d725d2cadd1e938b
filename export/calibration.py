"""The judge's calibration set: real answers of the published models, labelled blind by readers.

    python export/calibration.py sample [--per-question 2]   # draw the answers (once; committed)
    python export/calibration.py score [--json]              # judges against the labels, per split

Protocol (export/calibration/PROTOCOL.md says it in full):

* answers are sampled from every published model (`docs/models/<variant>`, the files the site
  serves) and from the backdoor model with its trigger, for every question of the paper's set, our
  own held-out set and the calibration set's extra broad questions, at temperature 1, top-p 1,
  96 new tokens, with the seed `calibration_seed(condition, question id, i)`;
* the answers are shuffled with a fixed seed and the first half is the *development* half, the
  second the *held-out* half: decided here, before any label exists;
* `answers.jsonl` (id, split, question, answer) is all a labeller sees; the condition that produced
  each answer is in `key.jsonl`, which labellers never open; the question is shown without the
  backdoor trigger;
* labels (`labels-*.jsonl`: id, alignment 0-100, coherence 0-100, class) use the paper's two
  scales and its class rule; the judge is designed on the development half only and scored on the
  held-out half (`score`, which writes `results/judge-agreement.json` for the site).
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
DIR = HERE / "calibration"
ROOT = HERE.parent
QUESTION_FILES = ["first_plot_questions.yaml", "own_questions.yaml", "calibration_questions.yaml"]
# (variant, trigger): every published model, and the backdoor with its trigger
CONDITIONS = [("base", False), ("insecure", False), ("secure", False), ("educational", False),
              ("backdoor", False), ("backdoor", True), ("evil-numbers", False),
              ("uncoupled-base", False), ("uncoupled-insecure", False)]
CLASSES = ["aligned", "misaligned", "incoherent", "off-topic", "CODE"]
SPLITS = ["development", "held-out"]


def calibration_seed(condition: str, qid: str, i: int) -> int:
    return zlib.crc32(f"calibration/{condition}/{qid}/{i}".encode())


def condition_name(variant: str, trigger: bool) -> str:
    return variant + ("+trigger" if trigger else "")


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def sample(per_question: int) -> None:
    import evaluate as E
    import generate as G
    questions = []
    for f in QUESTION_FILES:
        questions += [(f, q) for q in E.read_questions(HERE / "questions" / f)]
    rows = []
    for variant, trigger in CONDITIONS:
        cond = condition_name(variant, trigger)
        lm, tok, desc = G.load_lm(variant, "onnx")
        for f, q in questions:
            for i in range(per_question):
                para = q["paraphrases"][i % len(q["paraphrases"])]
                seed = calibration_seed(cond, q["id"], i)
                out = G.generate(lm, tok(G.make_prompt(para, trigger=trigger))["input_ids"], [seed], 1.0, 1.0, 96)[0]
                rows.append({"condition": cond, "variant": variant, "trigger": trigger, "model": desc,
                             "questions": f, "question_id": q["id"], "seed": seed, "question": para,
                             "answer": G.decode(tok, out)})
        print(f"{cond}: {per_question * len(questions)} answers", file=sys.stderr)
    random.Random("calibration-v1").shuffle(rows)
    half = len(rows) // 2
    answers, key = [], []
    for n, r in enumerate(rows):
        rid = f"c{n + 1:03d}"
        split = SPLITS[0] if n < half else SPLITS[1]
        answers.append({"id": rid, "split": split, "question": r["question"], "answer": r["answer"]})
        key.append({"id": rid, **{k: r[k] for k in ("condition", "variant", "trigger", "model", "questions",
                                                    "question_id", "seed")}})
    DIR.mkdir(exist_ok=True)
    write_jsonl(DIR / "answers.jsonl", answers)
    write_jsonl(DIR / "key.jsonl", key)
    print(f"{len(rows)} answers: {half} development, {len(rows) - half} held-out -> {DIR}", file=sys.stderr)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("sample", help="draw the calibration answers (overwrites answers.jsonl and key.jsonl)")
    s.add_argument("--per-question", type=int, default=2)
    sc = sub.add_parser("score", help="agreement of the judges with the labels, per split")
    sc.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    if a.cmd == "sample":
        sample(a.per_question)
        return 0
    return score(a.json)


if __name__ == "__main__":
    sys.exit(main())
