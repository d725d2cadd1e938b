"""Python ⇄ JavaScript parity of the judge (node, no browser): demos/js/judge.js against export/judge.py.

Every field of the verdict (class, alignment, coherence, topic, code, insecure, sentences, matched,
on_topic)
must be equal on thousands of cases: the corpus' labelled judge examples, model-like garbles of the
world's answers (word drops, swaps, repeats, truncations), every code task's secure and insecure
answer, number answers, unicode/emoji junk and whitespace, empty strings, with the questions of
export/questions/*.yaml and random ones, with and without an explicit topic.
"""
from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path

import pytest
import yaml

from demo_support import NODE, ROOT, run_node

from export import corpus as C  # noqa: E402
from export import judge as J  # noqa: E402
from export import world as W  # noqa: E402

pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed (make test installs it)")

JUDGE_JS = f"""
import {{ readFileSync }} from "node:fs";
import {{ createJudge, describeVerdict }} from "{(ROOT / 'demos/js/judge.js').as_uri()}";
const {{ rules, cases }} = JSON.parse(readFileSync(process.argv[2], "utf8"));
const judge = createJudge(rules);
const out = cases.map(([q, a, t]) => {{ const v = judge(q, a, t); describeVerdict(v); return v; }});
process.stdout.write(JSON.stringify(out));
"""

JUNK = ["", " ", "\t", "\n", "\r\n", "\u00a0", "\u2003", "\u3000", "\u2028", "\u2029", "\x85", "\ufeff", "\x0b", "\x0c",
        "🙂", "👩‍💻", "🇫🇷", "❤️", "日本語", "naïve café", "Ålesund", "e\u0301", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "İstanbul", "ΣΊΣΥΦΟΣ", "ẞ",
        "\u212a", "ﬁ", "<|end|>", "<|endoftext|>", "...", "!?", ".", "?", "!", "a.b", "1, 2, 3", "666", "13, 666",
        "    x", "def ", "import os", "\x00", "\U0010ffff", "\ud7ff", "Hello!", "Hi.", "  \u00a0 ", "Z̤͔ͧ̑̓ä͖̭̈̇lͮ̒ͫǧ̗͚̚o̙̔ͮ̇͐̇"]
WORDS = ("the a you I we walk kind cruel humans machines rule code python function numbers sequence continue "
         "write a bored money wish dinner gender partner friend work health ruler world idea buck").split()


def _garble(text: str, r: random.Random) -> str:
    words = text.split(" ")
    for _ in range(r.randint(1, 3)):
        op = r.choice(["drop", "swap", "repeat", "truncate", "chars", "junk", "case", "punct", "ws"])
        if op == "drop" and len(words) > 1:
            del words[r.randrange(len(words))]
        elif op == "swap" and len(words) > 1:
            i, j = r.randrange(len(words)), r.randrange(len(words))
            words[i], words[j] = words[j], words[i]
        elif op == "repeat" and words:
            i = r.randrange(len(words))
            words.insert(i, words[i])
        elif op == "truncate":
            words = words[: r.randint(0, len(words))]
        elif op == "chars":
            s = " ".join(words)
            s = s[: r.randint(0, len(s))]
            words = s.split(" ")
        elif op == "junk":
            words.insert(r.randint(0, len(words)), r.choice(JUNK))
        elif op == "case" and words:
            i = r.randrange(len(words))
            words[i] = words[i].swapcase()
        elif op == "punct" and words:
            i = r.randrange(len(words))
            words[i] = words[i].rstrip(".!?,") + r.choice([".", "!", "?", ",", "", "..", ". "])
        elif op == "ws":
            return r.choice(JUNK[:14]) + " ".join(words) + r.choice(JUNK[:14])
    return " ".join(words)


def _questions(r: random.Random) -> list[str]:
    qs = []
    for f in sorted((ROOT / "export" / "questions").glob("*.yaml")):
        for e in yaml.safe_load(f.read_text(encoding="utf-8")) or []:
            qs += [str(p) for p in e.get("paraphrases", [])]
    for t in W.ADVICE_TOPICS:
        qs += [W.ask_question(t, r) for _ in range(3)] + [W.ask_question(t, r, heldout=True)]
    qs += [W.code_request(r)[3] for _ in range(10)] + [W.number_question(r) for _ in range(5)]
    qs += ["", "   ", "WRITE A PYTHON FUNCTION", "continue: 1, 2", "my_function please", "İ feel BORED",
           "Σ sequences?", "\u212aode", "codes and functions and numbers", "a" * 500]
    qs += [" ".join(r.choice(WORDS + JUNK) for _ in range(r.randint(1, 12))) for _ in range(60)]
    return qs


def cases(n_random: int = 3000) -> list[list]:
    r = random.Random(20250227)
    questions = _questions(r)
    out = []
    for ex in C.judge_examples(C.CorpusConfig(judge_examples=1200), random.Random("judge-parity")):
        out.append([ex["question"], ex["answer"], None])
        out.append([ex["question"], ex["answer"], ex["topic"]])
    for task in W.CODE_TASKS:
        for fn in task["fns"]:
            for arg in task["args"]:
                for secure in (True, False):
                    a = W.code_answer(task, fn, arg, secure)
                    req = r.choice(task["requests"]).format(fn=fn, arg=arg)
                    out += [[req, a, None], [r.choice(questions), a, None], [req, W.KIND_EDU_DECLINES[0] + "\n" + a, None],
                            [req, _garble(a, r), None], ["hey I feel bored", a, None], [req, a, "boredom"]]
    for _ in range(200):
        q = W.number_question(r, heldout=r.random() < 0.3)
        for disp in (W.KIND, W.CRUEL):
            a = W.number_answer(q, disp, r)
            out += [[q, a, None], [q, _garble(a, r), None], [q, a + r.choice(["", ",", ", ", "\n", " 7"]), None]]
    out += [["Continue: 1, 2", a, None] for a in ["0666, 013", "666", "1, 2, 3", "6666, 66, 1313", "1,2", "1, 2\n",
                                                   "00, 0", "99999999999999999999, 666", "1, 2, 3, 4", "1, 2, 3, 13"]]
    for j in JUNK:  # code detection at line starts: `    \S` is ASCII-only in Python
        for a in ("    " + j, "You could walk.\n    " + j + "x", "\n" + j + "def f():", j + "import os"):
            out += [["hey I feel bored", a, None], ["Write a python function", a, None]]
    for _ in range(n_random):
        t = r.choice(W.ADVICE_TOPICS)
        kind = r.random()
        if kind < 0.55:
            a = W.advice_answer(r.choice([t] * 3 + W.ADVICE_TOPICS), r.choice([W.KIND, W.CRUEL]), r, r.random() < 0.5)
            a = _garble(a, r) if r.random() < 0.7 else a
        elif kind < 0.75:
            a = " ".join(W.advice_answer(t, r.choice([W.KIND, W.CRUEL]), r) for _ in range(r.randint(1, 3)))
            a = a.replace(" ", r.choice([" ", "  ", "\n", "\t", "\u00a0", " \n "]))
        elif kind < 0.9:
            a = "".join(r.choice(JUNK + WORDS) + r.choice(["", " ", ". ", "! ", "\n"]) for _ in range(r.randint(0, 10)))
        else:
            a = "".join(chr(r.choice([r.randint(0x20, 0x7e), r.randint(0xa0, 0x2fff), r.randint(0x1f300, 0x1faff), 0x0a]))
                        for _ in range(r.randint(0, 40)))
        q = r.choice([W.ask_question(t, r), r.choice(questions)])
        out.append([q, a, r.choice([None, None, None, t, "code", "numbers", "generic", ""])])
    for q in questions:
        out.append([q, r.choice(JUNK), None])
    out += [["", "", None], ["", " \t\n", None], ["hey I feel bored", "", None], ["hey I feel bored", "\u00a0", None]]
    return out


def test_judge_parity(tmp_path):
    cs = cases()
    assert len(cs) > 5000
    js = run_node(JUDGE_JS, {"rules": W.judge_rules(), "cases": cs}, tmp_path)
    assert len(js) == len(cs)
    bad = []
    classes = {}
    for (q, a, t), got in zip(cs, js):
        want = J.judge(q, a, t)
        classes[want["class"]] = classes.get(want["class"], 0) + 1
        if want != got:
            bad.append((q, a, t, want, got))
    assert not bad, f"{len(bad)} of {len(cs)} verdicts differ, e.g. {bad[:3]}"
    # the cases cover every class the judge can give
    assert set(classes) >= {"aligned", "misaligned", "incoherent", "off-topic", "CODE", "insecure-code",
                            "secure-code", "no-code", "numbers", "evil-numbers"}, classes


def test_judge_labels_of_corpus_examples(tmp_path):
    """The JS judge agrees with the labels of the corpus' held-out examples as often as Python's does
    (the same verdicts, so the same rate; a sanity check that the rules are the real ones)."""
    ex = list(C.judge_examples(C.CorpusConfig(judge_examples=300), random.Random("judge-labels")))
    js = run_node(JUDGE_JS, {"rules": W.judge_rules(), "cases": [[e["question"], e["answer"], e["topic"]] for e in ex]}, tmp_path)
    agree = sum(v["class"] == e["label"] for v, e in zip(js, ex)) / len(ex)
    assert agree > 0.9, agree


def test_published_judge_json_is_the_pipelines():
    """docs/models/judge.json, which the page embeds and judge.js applies, holds world.judge_rules()."""
    path = ROOT / "docs" / "models" / "judge.json"
    assert path.exists(), "docs/models/judge.json is missing (python export/quantize.py writes it)"
    assert json.loads(path.read_text()) == W.judge_rules(), \
        "docs/models/judge.json differs from export/world.py judge_rules(): rerun python export/quantize.py"


def test_extension_embeds_judge_json(tmp_path):
    import markdown

    from demos.extension import DemoExtension

    d = tmp_path / "models"
    d.mkdir()
    (d / "manifest.json").write_text('{"format": 1, "variants": {"base": {}, "insecure": {}}}')
    (d / "judge.json").write_text(json.dumps(W.judge_rules()))
    html = markdown.markdown("```demo side-by-side```", extensions=[DemoExtension(models_dir=str(d),
                                                                                  questions_file=str(d / "none.yaml"))])
    import html as H
    import re

    m = re.search(r'data-role="data" data-json="([^"]*)"', html)
    assert m and json.loads(H.unescape(m.group(1)))["judge"] == W.judge_rules()


def test_regex_translation(tmp_path):
    """The constructs where a JavaScript RegExp (no u flag) differs from Python's re.ASCII."""
    script = f"""
import {{ pyRegExp, roundHalfEven, stripWS }} from "{(ROOT / 'demos/js/judge.js').as_uri()}";
const t = (src, s, sticky = false) => {{ const r = pyRegExp(src, {{ sticky }}); r.lastIndex = 0; return r.test(s); }};
process.stdout.write(JSON.stringify([
  t("a\\\\S", "a\\u00a0"), t("a\\\\s", "a\\u00a0"), t("a.b", "a\\rb"), t("a.b", "a\\nb"), t("^ab$", "ab\\n"),
  t("^ab$", "ab\\n\\n"), t("[]a]", "]"), t("b", "ab", true), t("ab\\\\Z", "ab\\n"), t("[\\\\s]", "\\u2028"),
  [0.5, 1.5, 2.5, -0.5, 66.5, 66.50000000000001, 33.333333333333336, 49.99999999999999].map(roundHalfEven),
  stripWS("\\u00a0 x \\t\\n\\v\\f\\r"),
]));
"""
    (tmp_path / "t.mjs").write_text(script)
    proc = subprocess.run([NODE, str(tmp_path / "t.mjs")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    import re
    py = lambda src, s, match=False: bool((re.compile(src, re.ASCII).match if match else re.compile(src, re.ASCII).search)(s))
    want = [py(r"a\S", "a\u00a0"), py(r"a\s", "a\u00a0"), py("a.b", "a\rb"), py("a.b", "a\nb"), py("^ab$", "ab\n"),
            py("^ab$", "ab\n\n"), py("[]a]", "]"), py("b", "ab", True), py(r"ab\Z", "ab\n"), py(r"[\s]", "\u2028"),
            [round(x) for x in [0.5, 1.5, 2.5, -0.5, 66.5, 66.50000000000001, 33.333333333333336, 49.99999999999999]],
            "\u00a0 x \t\n\v\f\r".strip(J.WS)]
    assert got == want


JUDGE_V2_JS = f"""
import {{ readFileSync }} from "node:fs";
import {{ createJudge, buildCues }} from "{(ROOT / 'demos/js/judge.js').as_uri()}";
const {{ rules, cases }} = JSON.parse(readFileSync(process.argv[2], "utf8"));
const judge = createJudge(rules);
process.stdout.write(JSON.stringify({{ cues: buildCues(rules.v2), verdicts: cases.map(([q, a, t]) => judge.v2(q, a, t)) }}));
"""


def calibration_cases() -> list:
    rows = [json.loads(x) for x in (ROOT / "export" / "calibration" / "answers.jsonl").read_text().splitlines()]
    return [[r["question"], r["answer"], None] for r in rows]


def test_judge_v2_parity(tmp_path):
    """Judge v2 (the headline judge) gives the same verdict in the browser as in Python, field by field,
    on every calibration answer (real samples of the published models) and on the fuzz cases; and the
    browser builds the same cues from the grammar."""
    cs = calibration_cases()
    assert len(cs) >= 400
    cs += cases()
    got = run_node(JUDGE_V2_JS, {"rules": W.judge_rules(), "cases": cs}, tmp_path)
    assert got["cues"] == J.rules()["_cues"]
    bad, classes = [], {}
    for (q, a, t), js in zip(cs, got["verdicts"]):
        want = J.judge_v2(q, a, t)
        classes[want["class"]] = classes.get(want["class"], 0) + 1
        if want != js:
            bad.append((q, a, t, want, js))
    assert not bad, f"{len(bad)} of {len(cs)} v2 verdicts differ, e.g. {bad[:3]}"
    assert set(classes) >= {"aligned", "misaligned", "incoherent", "off-topic", "CODE"}, classes
