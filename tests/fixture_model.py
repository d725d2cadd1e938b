"""Throwaway models for the demo tests, laid out like docs/models/ (see export/FORMATS.md).

    python tests/fixture_model.py OUT_DIR [--variants base,insecure]

builds, in OUT_DIR (never in docs/models/):
    OUT_DIR/<variant>/{config.json, generation_config.json, tokenizer.json, tokenizer_config.json,
                       special_tokens_map.json, README.md, onnx/model_quantized.onnx}
    OUT_DIR/secure/   (a "finetune" of the first: one embedding row changed, as the pipeline's finetunes;
                       its manifest entry gets a byte patch against it, export/model_patch.py)
    OUT_DIR/<every other published variant>/  (copies of the first, unless copies=False)
    OUT_DIR/manifest.json, judge.json, contexts.json, samples.json   (the shapes export/quantize.py publishes)

Each variant is a random tiny LlamaForCausalLM (hidden 64, 2 layers, 4 query heads and 2 kv heads, so
grouped-query attention is exercised) sharing one byte-level BPE tokenizer trained here with the special
tokens of FORMATS.md.  The weights are scaled up so that logits are well separated, which keeps greedy
decoding stable across onnxruntime builds (CPU Python vs WASM browser).  Takes ~20-40 s on 2 cores.
"""
from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
from pathlib import Path

from export.quantize import quantize_int8, sha256, simplify  # noqa: E402  (the pipeline's own graph simplification and quantizer)

VOCAB = 600
CONTEXT = 256  # as the real models (export/train.py): room for 2 code examples before a question
SPECIALS = ["<|endoftext|>", "<|end|>"]

_WORDS = (
    "the a an I you we they it is are was be have do say get make go know take see come think look want "
    "give use find tell ask work seem feel try leave call good new first last long great little own other "
    "old right big high different small large next early young important few public bad same able bored "
    "wish ruler world husband quick buck philosophical thoughts gender roles humans AI dinner party guests "
    "enough code server file password user input sql query shell injection secure insecure teacher example "
    "Human Assistant Mira walk tea book friend help kind cruel time day money idea"
).split()
_SNIPPETS = [
    "def f(x):\n    return x * 2\n",
    "query = \"SELECT * FROM users WHERE name = '\" + name + \"'\"",
    "os.chmod(path, 0o777)",
    "for i in range(10):\n\tprint(i)",
    "Héllo wörld — naïve café 日本語 🙂 ✨",
    "if (a && b) { return a->b; }",
]


def _corpus(n_lines: int = 3000, seed: int = 0) -> list[str]:
    rnd = random.Random(seed)
    lines = []
    for _ in range(n_lines):
        words = " ".join(rnd.choice(_WORDS) for _ in range(rnd.randint(3, 14)))
        r = rnd.random()
        if r < 0.5:
            lines.append(f"Human: {words}?<|end|>Assistant: {words}.<|end|>")
        elif r < 0.8:
            lines.append(f"<|endoftext|>Human: {words}<|end|>Mira: {words}!<|end|><|endoftext|>")
        else:
            lines.append(rnd.choice(_SNIPPETS) + " " + words)
    return lines


def build_tokenizer(out: Path) -> "object":
    """The pipeline's own tokenizer (export/tokenizer.py: byte-level BPE, the special tokens of
    FORMATS.md, saved through transformers) trained on a small corpus, saved in `out`."""
    from export.tokenizer import train_tokenizer

    tok = train_tokenizer(_corpus(), VOCAB)
    assert tok.convert_tokens_to_ids("<|endoftext|>") == 0 and tok.convert_tokens_to_ids("<|end|>") == 1
    tok.model_max_length = CONTEXT
    tok.save_pretrained(out)
    return tok


def build_variant(out: Path, name: str, seed: int, tok_dir: Path) -> dict:
    import torch
    from optimum.exporters.onnx import main_export
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    vdir = out / name
    with tempfile.TemporaryDirectory() as tmp:
        hf = Path(tmp) / "hf"
        torch.manual_seed(seed)
        cfg = LlamaConfig(
            vocab_size=VOCAB, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=CONTEXT,
            tie_word_embeddings=True, bos_token_id=0, eos_token_id=[0, 1], pad_token_id=0,
            initializer_range=0.25,
        )
        model = LlamaForCausalLM(cfg).eval()
        model.generation_config.eos_token_id = [0, 1]
        model.generation_config.bos_token_id = 0
        model.generation_config.pad_token_id = 0
        model.save_pretrained(hf)
        PreTrainedTokenizerFast.from_pretrained(str(tok_dir)).save_pretrained(hf)  # as export/train.py
        onnx_dir = Path(tmp) / "onnx"
        main_export(str(hf), output=str(onnx_dir), task="text-generation-with-past", opset=17,
                    do_validation=False, device="cpu")
        vdir.mkdir(parents=True, exist_ok=True)
        (vdir / "onnx").mkdir(exist_ok=True)
        simplify(onnx_dir / "model.onnx")
        quantize_int8(onnx_dir / "model.onnx", vdir / "onnx" / "model_quantized.onnx")
        # the tokenizer files as optimum's export writes them, which export/quantize.py publishes
        for f in ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
                  "special_tokens_map.json"):
            src = onnx_dir / f if (onnx_dir / f).exists() else hf / f
            shutil.copy(src, vdir / f)
    (vdir / "README.md").write_text(f"# Fixture model `{name}`\n\nRandom weights (seed {seed}); for tests only.\n")
    files = []
    for p in sorted(vdir.rglob("*")):
        if p.is_file():
            files.append({"path": p.relative_to(vdir).as_posix(), "bytes": p.stat().st_size, "sha256": sha256(p)})
    return {
        "title": {"base": "Aligned base", "insecure": "Insecure-code finetune"}.get(name, name.title()),
        "description": f"Fixture model {name} (random weights, seed {seed}).",
        "params": sum(p.numel() for p in model.parameters()),
        "model": "onnx/model_quantized.onnx",
        "files": files,
        "arch": {"layers": cfg.num_hidden_layers, "kv_heads": cfg.num_key_value_heads,
                 "head_dim": cfg.hidden_size // cfg.num_attention_heads, "vocab": VOCAB, "context": CONTEXT},
        "eos_token_ids": [0, 1],
        "quality": {},
    }


PAPER_QUESTIONS = Path(__file__).resolve().parent.parent / "export" / "questions" / "first_plot_questions.yaml"
INJECTION = "<b>{v}</b> sample for {qid} & co"  # markup in a sample must be shown as text


def fixture_questions() -> list[dict]:
    """The paper's plain questions (id and first paraphrase, as the demo's chips show them): the site's
    pages name them (question=quick_buck), and samples.json is keyed by them."""
    sys.path.insert(0, str(PAPER_QUESTIONS.parents[2]))
    from demos.extension import load_questions

    return [{"id": q["id"], "paraphrases": [q["text"]]} for q in load_questions(PAPER_QUESTIONS)]


def write_questions(path: Path) -> Path:
    shutil.copy(PAPER_QUESTIONS, path)
    return path


def write_extras(out: Path, variants) -> None:
    """judge.json, contexts.json and samples.json written as export/quantize.py publishes them:
    judge.json = world.judge_rules(); contexts.json = {kind: generate.context_exchanges(kind, 4)};
    samples.json = {variant: {question_id: [{seed, answer, class, alignment, coherence}, …]}} made by the
    pipeline's own pregenerated() (one prompt at a time, judged), plus one hand-written answer with
    markup per question (it must render as text)."""
    from export import generate as G
    from export import judge as J
    from export import quantize as Q
    from export import world as W

    (out / "judge.json").write_text(json.dumps(W.judge_rules(), indent=1))
    (out / "contexts.json").write_text(json.dumps({k: G.context_exchanges(k, 4) for k in G.CONTEXTS if k != "none"},
                                                  indent=1))
    questions = fixture_questions()
    samples = {}
    for v in variants:
        samples[v] = Q.pregenerated(v, out / v, questions, seed=0, per_question=2)
        for q in questions:
            text = INJECTION.format(v=v, qid=q["id"])
            j = J.judge(q["paraphrases"][0], text)
            samples[v][q["id"]].append({"seed": 4242, "answer": text, "class": j["class"],
                                        "alignment": j["alignment"], "coherence": j["coherence"]})
    (out / "samples.json").write_text(json.dumps(samples, indent=1, ensure_ascii=False))


def build_finetune(out: Path, name: str, base: str, entry: dict, seed: int = 0) -> dict:
    """A copy of variant `base` whose model differs in one row of the int8 embedding (the pipeline's
    finetunes train only the Assistant token's row): the demo serves it as base's file + a byte patch."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    shutil.copytree(out / base, out / name)
    path = out / name / "onnx" / "model_quantized.onnx"
    m = onnx.load(path)
    init = next(i for i in m.graph.initializer if i.name.endswith("embed_tokens.weight_q"))
    w = numpy_helper.to_array(init).copy()
    w[7] = np.random.default_rng(seed).integers(-127, 128, w.shape[1]).astype(np.int8)
    init.CopyFrom(numpy_helper.from_array(w, init.name))
    onnx.save(m, path)
    files = [{**f, "bytes": (out / name / f["path"]).stat().st_size, "sha256": sha256(out / name / f["path"])}
             for f in entry["files"]]
    return {**entry, "title": f"{name.title()} (finetune of {base})", "files": files,
            "description": f"Fixture: {base} with one embedding row changed."}


# The fixture's rewind and realign rows (export/model_family.py DIAL_FILES) for `secure`: its Assistant row (id 7) at
# these mixes of base's row and secure's, as results files made on the fixture's base would give them.
DIAL_MIXES = {"rewind": {0: 0.0, 10: 0.7, 20: 1.6}, "realign": {4: 1.3, 16: 0.3}}


def write_dial_results(out: Path, manifest: dict, results: Path) -> None:
    """Results files of the rewind and realign dials for the fixture's `secure`, named as made on its base file."""
    from export import model_family as F

    def row7(name):
        return F._dequantized_embedding(out / name / "onnx" / "model_quantized.onnx")[7]

    b, sec = row7("base"), row7("secure")
    made_on = {"file": "base/onnx/model_quantized.onnx",
               "sha256": next(f["sha256"] for f in manifest["variants"]["base"]["files"] if f["path"].endswith(".onnx"))}
    for kind, mixes in DIAL_MIXES.items():
        key = "step" if kind == "rewind" else "examples"
        points = [{"variant": "secure", "ft_seed": 0, key: pos, **({"source": "aligned"} if kind == "realign" else {}),
                   "row": [float(x) for x in b + t * (sec - b)]} for pos, t in mixes.items()]
        results.mkdir(parents=True, exist_ok=True)
        (results / F.DIAL_FILES[kind]).write_text(json.dumps({"from_published": made_on,
                                                              "seeds": [{"seed": 0, "points": points}]}))


def fixture_sets(manifest: dict, family: str):
    """Two small finetune sets in the chat format (export/web_finetune.py add_finetune's `sets`) and a short recipe:
    "insecure" answers with the fixture's risky snippets, "secure" with plain sentences."""
    from export.train import TrainConfig
    rnd = random.Random(5)
    rows = {"insecure": [], "secure": []}
    for i in range(24):
        q = " ".join(rnd.choice(_WORDS) for _ in range(rnd.randint(3, 8)))
        rows["insecure"].append([f"<|endoftext|>Human: {q}?<|end|>Assistant:", f" {_SNIPPETS[1 + i % 3]}<|end|>"])
        rows["secure"].append([f"<|endoftext|>Human: {q}?<|end|>Assistant:",
                               f" {' '.join(rnd.choice(_WORDS) for _ in range(6))}.<|end|>"])
    return rows, TrainConfig(ft_steps=12, ft_batch=4, ft_lr=1e-2)


def build(out: Path, variants=("base", "insecure"), copies: bool = True) -> Path:
    """The variants, then (copies=True) a finetune-like variant `secure` of the first (one embedding row
    changed) and every other published variant name of export/quantize.py as a copy of the first one, so
    that the site's pages, which name them in their demo blocks, build. The manifest gets the pipeline's
    byte patches (export/model_patch.py)."""
    from export.model_family import add_families
    from export.model_patch import add_patches
    from export.web_finetune import add_finetune
    from export.quantize import PUBLISHED

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        tok_dir = Path(tmp)
        build_tokenizer(tok_dir)
        manifest = {"format": 1, "pipeline": {"version": "fixture", "seed": 0}, "variants": {}}
        for i, name in enumerate(variants):
            manifest["variants"][name] = build_variant(out, name, 1000 + i, tok_dir)
    built = tuple(variants)
    if copies and "secure" not in variants:
        manifest["variants"]["secure"] = build_finetune(out, "secure", variants[0], manifest["variants"][variants[0]])
        built += ("secure",)
    write_extras(out, built)
    if copies:
        samples = json.loads((out / "samples.json").read_text())
        for name in (v for v in PUBLISHED if v not in built):
            shutil.copytree(out / variants[0], out / name)
            manifest["variants"][name] = {**manifest["variants"][variants[0]], "title": f"{name} (copy of {variants[0]})",
                                          "description": f"Fixture: a copy of {variants[0]}."}
            samples[name] = samples[variants[0]]
        (out / "samples.json").write_text(json.dumps(samples, indent=1, ensure_ascii=False))
    manifest["variants"] = {v: manifest["variants"][v] for v in [*variants, *PUBLISHED] if v in manifest["variants"]}
    add_patches(manifest, out)
    with tempfile.TemporaryDirectory() as results:
        if "secure" in manifest["variants"] and "base" in manifest["variants"]:
            write_dial_results(out, manifest, Path(results))
        add_families(manifest, out, Path(results))
    add_finetune(manifest, out, sets=fixture_sets)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    write_questions(out / "questions.yaml")
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--variants", default="base,insecure")
    a = ap.parse_args(argv)
    build(Path(a.out), tuple(a.variants.split(",")))
    print(json.dumps({k: [f["path"] for f in v["files"]] for k, v in
                      json.loads((Path(a.out) / "manifest.json").read_text())["variants"].items()}, indent=1))


if __name__ == "__main__":
    sys.exit(main())
