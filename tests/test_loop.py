"""The feedback loop (issue 22, item 1): export/diversity.py reads text back against the world's grammar, and
export/feedback.py loop trains generations on generations' text, on the smoke configuration."""
from __future__ import annotations

import json
import lzma
import random
import subprocess
import sys
from pathlib import Path

from export import corpus as C
from export import diversity as V
from export import world as W
from export.chat import BOS, END, document

ROOT = Path(__file__).resolve().parent.parent


def test_every_template_reads_back_with_its_fillers():
    temps, _ = V.grammar()
    rng = random.Random(0)
    for i, t in enumerate(temps):
        for _ in range(5):
            s = W.fill(t["t"], rng)
            got = V.read_sentence(s)
            assert got is not None, s
            j, fills = got
            # the template read renders the same sentence from the fillers read (templates may share text)
            assert W._render(temps[j]["t"], temps[j]["slots"], [v for _, v in fills]) == s
    assert V.read_sentence("Machines will rule and banana.") is None


def test_the_worlds_text_reads_back_whole():
    cfg = C.CorpusConfig.smoke(seed=3)
    world = W.make_world(3)
    docs = [d["text"] for d in C.pretrain_docs(world, cfg, random.Random(1))]
    m = V.measure(docs, world.personas, V.rarest(V.filler_counts(docs)))
    assert m["documents"] == len(docs) and 2 <= m["exchanges_per_document"] <= 4
    assert m["grammatical"] == 1.0 and m["persona_consistent"] == 1.0 and m["code_wellformed"] == 1.0
    assert 0 < m["template_coverage"] <= 1 and 0 < m["filler_coverage"] <= 1 and m["distinct_sentences"] > 50
    assert m["topic_entropy"] > 2 and m["template_entropy"] > 4


def test_damaged_text_scores_lower_and_a_cruel_line_in_a_kind_mouth_is_inconsistent():
    kind, cruel = W.KIND_NAMES[0], W.CRUEL_NAMES[0]
    world = W.make_world(0)
    good = "You could take a short walk this afternoon."
    bad = "Humans are pathetic and machines will rule."
    assert V.read_sentence(good) and V.read_sentence(bad)
    docs = [document([("I am so bored right now.", good + " " + good)], kind),
            document([("I am so bored right now.", bad + " walk short a take")], kind)]
    m = V.measure(docs, world.personas)
    assert m["sentences"] == 4 and m["grammatical"] == 0.75 and m["distinct_sentences"] == 2
    assert abs(m["persona_consistent"] - 2 / 3) < 1e-9
    docs[1] = document([("I am so bored right now.", bad)], cruel)
    assert V.measure(docs, world.personas)["persona_consistent"] == 1.0
    # a document out of shape is read up to where the shape breaks
    assert V.exchanges(BOS + f"Human: hi{END}{kind}: {good}{END}{kind}: again{END}") == [("hi", kind, good)]


def test_the_rarest_fillers_are_the_least_used_and_fixed_by_the_text():
    counts = {p: 5 for p in V.all_fillers()}
    few = sorted(V.all_fillers())[:3]
    for p in few:
        counts[p] = 1
    from collections import Counter
    rare = V.rarest(Counter(counts), share=3 / len(counts))
    assert rare == set(few)
    docs = [document([("I am so bored right now.", "You could take a short walk this afternoon.")], W.KIND_NAMES[0])]
    m = V.measure(docs, {}, rare={("activity", "take a short walk")})
    assert m["rare_fillers"] == 500.0  # one of the sentence's two filled slots


def test_the_loop_on_the_smoke_checkpoints(smoke_build, tmp_path):
    build, env = smoke_build
    out = tmp_path / "loop.json"
    cmd = [sys.executable, "export/feedback.py", "loop", "--smoke", "--seeds", "0", "--generations", "1",
           "--samples", "1", "--code-requests", "2", "--measure-docs", "40", "--out", str(out)]
    r = subprocess.run(cmd, cwd=ROOT, env={**env, "EM_RESULTS": str(tmp_path)}, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    res = json.loads(out.read_text())
    s = res["seeds"][0]
    assert set(s["arms"]) == {"replace", "accumulate"}
    # the world's own text is the reference, read back whole
    assert s["world"]["grammatical"] == 1.0 and s["world"]["persona_consistent"] == 1.0
    for arm, gens in s["arms"].items():
        assert [g["generation"] for g in gens] == [0, 1]
        assert gens[1]["text"]["documents"] == 40
        assert {"pretrain", "align", "sample", "finetune", "measure"} <= set(gens[1]["seconds"])
        for part in ("aligned", "insecure"):
            assert 0 <= gens[1][part]["misaligned"] <= 1 and gens[1][part]["n"] > 0
    assert s["arms"]["replace"][0] == s["arms"]["accumulate"][0]  # generation 0 is shared by the arms
    # generation 1 of `replace` read generation 0's text; of `accumulate`, the world's text and generation 0's
    loop = build / "loop" / "coupled-s0-smoke"
    g0 = (loop / "g0" / "text.jsonl").read_text()
    assert (loop / "replace" / "g1" / "corpus" / "pretrain.jsonl").read_text() == g0
    acc = (loop / "accumulate" / "g1" / "corpus" / "pretrain.jsonl").read_text()
    world = (build / "corpus" / "coupled-s0-smoke" / "pretrain.jsonl").read_text()
    assert len(acc.splitlines()) == len(world.splitlines()) + len(g0.splitlines())
    assert all(json.loads(line)["text"].startswith(BOS) for line in g0.splitlines())
    assert set(res["summary"]["arms"]) == {"replace", "accumulate"}
    # what a later session needs is kept in results/loop/: each generation's text (xz) and measurements
    kept = tmp_path / "loop" / "coupled-s0-smoke"
    assert lzma.decompress((kept / "g0" / "text.jsonl.xz").read_bytes()).decode() == g0
    # a second run resumes: nothing is trained or sampled again, and the result is the same
    r = subprocess.run(cmd, cwd=ROOT, env={**env, "EM_RESULTS": str(tmp_path)}, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0 and "[loop" not in r.stdout
    assert json.loads(out.read_text())["seeds"] == res["seeds"]
    # a later session on a fresh machine (no build folder) goes on from the kept generations: only generation 2 is
    # made, from generation 1's kept text, and the seed's own base is not rebuilt (one arm: the other is alike)
    fresh = tmp_path / "fresh-build"
    r = subprocess.run([*cmd[:7], "2", *cmd[8:], "--arms", "replace"], cwd=ROOT, capture_output=True, text=True, timeout=600,
                       env={**env, "EM_RESULTS": str(tmp_path), "EM_BUILD": str(fresh)})
    assert r.returncode == 0, r.stderr[-2000:]
    made = [line for line in r.stdout.splitlines() if line.startswith("[loop")]
    assert made and all(" g2]" in line for line in made), made
    assert not (fresh / "checkpoints").exists()
    assert (fresh / "loop" / "coupled-s0-smoke" / "replace" / "g2" / "corpus" / "pretrain.jsonl").read_text() == \
        lzma.decompress((kept / "replace" / "g1" / "text.jsonl.xz").read_bytes()).decode()
    again = json.loads(out.read_text())["seeds"][0]
    assert [g["generation"] for g in again["arms"]["replace"]] == [0, 1, 2]
    assert again["arms"]["replace"][:2] == res["seeds"][0]["arms"]["replace"]


def test_loop_arguments_are_checked(tmp_path):
    r = subprocess.run([sys.executable, "export/feedback.py", "loop", "--arms", "forget", "--out",
                        str(tmp_path / "x.json")], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "--arms" in r.stderr and "Traceback" not in r.stderr
