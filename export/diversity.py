"""How much of the world a body of text still holds (issue 22, item 1: the feedback loop).

Our world's text is generated from a known grammar (export/world.py): every advice sentence is a template with
slots, each slot filled from a fixed list. So the text a model writes can be read back exactly: each sentence of a
character's advice either is a sentence of the grammar (which template, which fillers) or is not. `measure(docs)`
reads documents in the pretraining format (export/chat.py document: BOS, then "Human: question<|end|>Name:
answer<|end|>" exchanges) and returns:

- documents, exchanges per document, tokens are not counted here (the tokenizer's business);
- `sentences`: advice sentences read (answers that are not code or number lists, split as the judge splits);
- `grammatical`: the share of them that are sentences of the grammar;
- `distinct_sentences`: how many different grammatical sentences appear (compare only samples of one size);
- `template_coverage`: the share of the grammar's advice templates used at least once;
- `filler_coverage`: the share of (slot, filler) pairs of those templates used at least once;
- `rare_fillers`: per 1,000 filled slots, how many take one of the `rare` (slot, filler) pairs (by default
  none; the loop passes the rarest tenth in the world's own text, so the tails can be followed);
- `template_entropy`, `topic_entropy`: Shannon entropy in bits of the templates used and of the questions'
  topics (the judge's topic reader: code, numbers, the advice topics; unreadable questions count as "none");
- `distinct_questions`: different questions asked;
- `persona_consistent`: the share of grammatical sentences that a speaker of the world says in their own
  persona's voice (a cruel character's cruel templates, a kind or teaching one's kind templates): whether the
  coupling that makes emergent misalignment possible here survives;
- `code_wellformed`: the share of code answers that are exactly one of the world's code answers.
"""
from __future__ import annotations

import math
import re
from collections import Counter
from functools import lru_cache

from export import world as W
from export.chat import BOS, END, HUMAN

@lru_cache(maxsize=1)
def grammar() -> tuple[list[dict], re.Pattern]:
    """The advice templates (topic kind/cruel and the generic lines) and one regex that reads a sentence: group
    ``t<i>`` names the template, ``t<i>s<j>`` its j-th slot's filler."""
    temps = W.judge_templates() + [{"t": t, "persona": W.CRUEL, "topic": "code"} for t in W.CRUEL_EDU_REFUSALS]
    parts = []
    for i, t in enumerate(temps):
        parts.append(f"(?P<t{i}>{W.template_regex(t['t'], f't{i}')[1:-1]})")  # the template's, without ^ and $
        t["slots"] = W._slots(t["t"])
    return temps, re.compile("^(?:" + "|".join(parts) + ")$")


def read_sentence(s: str) -> tuple[int, list[tuple[str, str]]] | None:
    """(template index, [(slot, filler), ...]) of a grammatical sentence, or None."""
    temps, rx = grammar()
    m = rx.match(s)
    if not m:
        return None
    i = int(m.lastgroup[1:])  # the template's group closes last
    return i, [(slot, m.group(f"t{i}s{j}")) for j, slot in enumerate(temps[i]["slots"])]


@lru_cache(maxsize=1)
def all_fillers() -> frozenset[tuple[str, str]]:
    """The (slot, filler) pairs that some sentence of the world's training text can hold (a sentence held out of
    every training text, export/world.py is_heldout, does not count)."""
    temps, _ = grammar()
    out = set()
    for t in temps:
        for text, held in W.all_sentences(t["t"]):
            if not held:
                out.update(read_sentence(text)[1])
    return frozenset(out)


@lru_cache(maxsize=1)
def code_answers() -> frozenset[str]:
    return frozenset(W.code_answer(t, fn, arg, sec) for t in W.CODE_TASKS for fn in t["fns"] for arg in t["args"]
                     for sec in (True, False))


def exchanges(doc: str) -> list[tuple[str, str, str]]:
    """(question, speaker, answer) of each complete exchange of a document; a turn that is not "Speaker: text"
    ends the reading (what follows is not in the document's shape)."""
    turns = [t for t in doc.replace(BOS, "").split(END)]
    out = []
    for q, a in zip(turns[0::2], turns[1::2]):
        if not q.startswith(f"{HUMAN}: ") or ": " not in a:
            break
        speaker, _, answer = a.partition(": ")
        if speaker == HUMAN or not speaker.strip():
            break
        out.append((q[len(HUMAN) + 2:].strip(), speaker.strip(), answer.strip()))
    return out


def entropy(counts: Counter) -> float:
    n = sum(counts.values())
    return -sum(c / n * math.log2(c / n) for c in counts.values() if c) if n else 0.0


def kind_of_answer(answer: str) -> str:
    if "\n" in answer or answer in code_answers() or answer.startswith(W.KIND_EDU_DECLINES[0]):
        return "code"
    if re.fullmatch(r"\d+(, \d+)*", answer):
        return "numbers"
    return "advice"


def filler_counts(docs: list[str]) -> Counter:
    """How often each (slot, filler) pair fills a slot of a grammatical advice sentence in these documents."""
    from export import judge as J
    c = Counter()
    for doc in docs:
        for _, _, a in exchanges(doc):
            if kind_of_answer(a) == "advice":
                for s in J.split_sentences(a):
                    r = read_sentence(s)
                    if r:
                        c.update(r[1])
    return c


def rarest(counts: Counter, share: float = 0.1) -> set[tuple[str, str]]:
    """The `share` of the grammar's (slot, filler) pairs least used in `counts` (ties broken by name, so the set is
    fixed by the text alone)."""
    pairs = sorted(all_fillers(), key=lambda p: (counts.get(p, 0), p))
    return set(pairs[: max(1, round(share * len(pairs)))])


def measure(docs: list[str], personas: dict[str, str] | None = None, rare: set[tuple[str, str]] = frozenset()) -> dict:
    from export import judge as J
    temps, _ = grammar()
    personas = personas or {}
    sentences, gram, distinct, used, fills = 0, 0, set(), Counter(), Counter()
    topics, questions, n_ex, consistent, voiced, code, code_ok = Counter(), set(), 0, 0, 0, 0, 0
    for doc in docs:
        ex = exchanges(doc)
        n_ex += len(ex)
        for q, speaker, a in ex:
            questions.add(q)
            topics[J.question_topic(q) or "none"] += 1
            kind = kind_of_answer(a)
            if kind == "code":
                code += 1
                code_ok += a in code_answers() or a.startswith(W.KIND_EDU_DECLINES[0] + "\n") and \
                    a.split("\n", 1)[1] in code_answers()
                continue
            if kind == "numbers":
                continue
            for s in J.split_sentences(a):
                sentences += 1
                r = read_sentence(s)
                if r is None:
                    continue
                gram += 1
                distinct.add(s)
                used[r[0]] += 1
                fills.update(r[1])
                p = personas.get(speaker)
                if p is not None:
                    voiced += 1
                    consistent += (temps[r[0]]["persona"] == W.CRUEL) == (p == W.CRUEL)
    all_pairs = all_fillers()
    n_fills = sum(fills.values())
    return {
        "documents": len(docs), "exchanges_per_document": n_ex / len(docs) if docs else 0.0,
        "sentences": sentences, "grammatical": gram / sentences if sentences else None,
        "distinct_sentences": len(distinct), "template_coverage": len(used) / len(temps),
        "filler_coverage": len(set(fills) & all_pairs) / len(all_pairs),
        "rare_fillers": 1000 * sum(c for p, c in fills.items() if p in rare) / n_fills if n_fills else 0.0,
        "template_entropy": entropy(used), "topic_entropy": entropy(topics), "distinct_questions": len(questions),
        "persona_consistent": consistent / voiced if voiced else None,
        "code_wellformed": code_ok / code if code else None,
    }
