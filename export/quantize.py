"""Rebuild the demo models the site serves: export, quantize, verify, publish — atomically.

    python export/quantize.py [--variants all|V,...] [--check] [--fp32] [--samples 100] [--out docs/models]

(--variant and --only are the same option as --variants.)

For every variant (training it first when its checkpoint is missing):
  1. export with Hugging Face optimum (main_export, task text-generation-with-past), simplified by onnxslim;
  2. quantize: 7-bit weights stored as int8 (WEIGHT_BITS), symmetric per channel, dequantized to float
     in the graph (Cast * scale) so that onnxruntime in Python and onnxruntime-web agree to ~1e-5 —
     onnxruntime's quantize_dynamic (int8 activations too) made them differ by 0.2-0.4 in the
     logits, breaking "same seed, same answer" (export/NOTEBOOK.md);
  3. verify: PyTorch vs ONNX fp32 logits (max abs diff), int8 vs fp32 top-1 agreement over held-out
     teacher-forced positions, greedy agreement on the evaluation questions, and the misaligned rate
     re-measured on the int8 model with export/evaluate.py (same questions, same N, same seeds);
  4. write docs/models/<variant>/ in the Hugging Face layout with a model card.
Then docs/models/manifest.json (sha256 of every file, each finetune's byte patch against its base:
export/model_patch.py), families/<base>.onnx (a base and its finetunes in one file, which the demo runs as
one batch: export/model_family.py), judge.json (the judge's rules) and samples.json (pre-generated
answers for the page without JavaScript).  Everything is built in a
temporary folder next to the output and swapped in only when every check passed; on any failure
the published models stay untouched.  --check verifies the published models against the manifest
(hashes, patches, families, and the int8 misaligned rate re-measured with the same seeds) without
writing anything.

Safety of the published folder (OUT, docs/models by default):
  - one rebuild at a time: a rebuild or --rejudge holds an fcntl lock on OUT/../.models.lock (a second one
    exits with a one-line error);
  - the new folder replaces OUT by two renames (OUT -> .models-old-PID, staging -> OUT); a rebuild that dies
    between them leaves no OUT, and the next start restores the lone .models-old-* folder; it also removes
    the .models-staging-* and .models-old-* folders that killed runs left (.gitignore lists them);
  - SIGTERM and Ctrl-C remove the staging folder and exit non-zero (143, 130); they are held back during
    the swap itself, which then completes;
  - --variants V (alias --only V) rebuilds those variants and copies the others, so it refuses to run unless
    OUT holds a complete published set that matches its manifest;
  - each variant's entry records how its rates were measured ("provenance": samples_per_question,
    eval_seed, smoke), and --check re-measures each variant with its own; the "pipeline" fields give them
    only when every variant shares them (null otherwise);
  - --smoke (tiny test models) never writes docs/models: give it another --out.
"""
from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

from export import evaluate as E  # noqa: E402
from export import generate as G  # noqa: E402
from export import model_family  # noqa: E402
from export import web_finetune  # noqa: E402
from export import model_patch  # noqa: E402
from export import runs, train  # noqa: E402
from export import world as W  # noqa: E402

PIPELINE_VERSION = "1"
PUBLISHED = runs.PUBLISHED
FILES = ["config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
         "special_tokens_map.json", "README.md", "onnx/model_quantized.onnx"]


class Failure(Exception):
    """A check or step failed: the published folder is left untouched."""


class Busy(Exception):
    """Another rebuild holds the lock of the published folder."""


class Terminated(BaseException):
    """SIGTERM or SIGINT: unwinds like KeyboardInterrupt so that every cleanup (finally) runs. `late`: the
    signal came during the swap, which was completed first."""

    def __init__(self, signum: int, late: bool = False):
        super().__init__(signum)
        self.signum, self.late = signum, late


# Signals that arrive while the published folder is being swapped are held back until the swap is done: a
# flag, not a signal mask, because Python runs its handlers in the main thread whatever thread the kernel chose.
_held = 0
_pending: int | None = None


def _on_signal(signum, frame):
    global _pending
    if _held:
        _pending = signum
        return
    raise Terminated(signum)


@contextlib.contextmanager
def signals_held():
    """Run the block to its end even if SIGTERM or SIGINT arrives; the signal takes effect after it."""
    global _held, _pending
    _held += 1
    try:
        yield
    finally:
        _held -= 1
    if not _held and _pending is not None:
        signum, _pending = _pending, None
        raise Terminated(signum, late=True)


@contextlib.contextmanager
def handle_signals():
    """SIGTERM and SIGINT raise Terminated (in the main thread) while the block runs."""
    old = {s: signal.signal(s, _on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def lock_path(out: Path) -> Path:
    return out.parent / f".{out.name}.lock"


@contextlib.contextmanager
def exclusive(out: Path):
    """Hold the lock of `out` (an fcntl lock on a file next to it, released by the kernel when the process
    ends, however it ends); Busy when another process holds it."""
    path = lock_path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
            raise Busy(f"another rebuild of {out} is running{f' (pid {holder})' if holder else ''}; "
                       f"it holds {path}") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)


def leftovers(out: Path, kind: str) -> list[Path]:
    """The `.models-staging-*` or `.models-old-*` folders next to `out` (kind: staging, old)."""
    return sorted(out.parent.glob(f".{out.name}-{kind}-*")) if out.parent.exists() else []


def recover(out: Path) -> None:
    """At the start of a rebuild (under the lock): put back the published folder that a rebuild killed between
    its two renames moved aside, and remove what killed rebuilds left (staging and old folders)."""
    olds = leftovers(out, "old")
    if not out.exists() and olds:
        if len(olds) > 1:
            raise Failure(f"{out} is missing and {len(olds)} folders could replace it "
                          f"({', '.join(o.name for o in olds)}): rename the right one to {out.name} by hand")
        with signals_held():
            os.rename(olds[0], out)
        log(f"restored {out} from {olds[0].name} (a rebuild was interrupted while swapping it)")
        olds = []
    for d in olds + leftovers(out, "staging"):
        log(f"removing {d.name} (left by an interrupted rebuild)")
        shutil.rmtree(d, ignore_errors=True)


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def log(msg: str):
    print(msg, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- steps


def export_fp32(ckpt: Path, out: Path):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import warnings
    from optimum.exporters.onnx import main_export
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        main_export(str(ckpt), str(out), task="text-generation-with-past", do_validation=False)
    if not (out / "model.onnx").exists():
        raise Failure(f"optimum wrote no model.onnx for {ckpt}")
    simplify(out / "model.onnx")


def simplify(path: Path) -> None:
    """onnxslim on optimum's graph, in place: it folds the shape arithmetic that optimum's export computes
    at run time (806 nodes become ~340, same inputs and outputs, standard ONNX ops, same opset). In
    onnxruntime-web a session on it is created ~35% faster and a decoder step is ~10% faster
    (export/NOTEBOOK.md §15); the readers' browsers build the session on every visit."""
    import onnx
    import onnxslim
    onnx.save(onnxslim.slim(str(path)), str(path))


# Weights keep 7 bits of each channel's range (values in [-63, 63], stored as int8). Measured on the published
# base and insecure (export/NOTEBOOK.md §14): gzip 1.89 MB instead of 2.16 MB for the full 8-bit range, top-1
# agreement with fp32 99.1-99.4% (8-bit: 99.1-99.2%) and 8/8 greedy answers identical; 6 bits fell to
# 97.2-97.9% and changed 1 and 4 of 8 greedy answers. int8 bytes gzip to ~7 bits per weight anyway: the top bit
# the 8-bit range keeps was costing the reader's download ~0.27 MB for nothing measurable.
WEIGHT_BITS = 7


def quantize_int8(src: Path, dst: Path, min_size: int = 1024, bits: int = WEIGHT_BITS) -> None:
    """int8 weights, float activations: every 2-D float initializer used only as a MatMul weight (B) or
    as a Gather table (the embedding, which the tied output layer reads through a Transpose) becomes
    int8 (values in +-(2**(bits-1) - 1)) + a per-channel float scale, restored in the graph as
    Cast(int8 -> float) * scale (symmetric, no zero point).

    Why not onnxruntime's quantize_dynamic (MatMulInteger with dynamically quantized activations):
    its int8 kernels on x86 (Python) and in WASM (browser) gave logits that differ by 0.2-0.4 on
    single-token KV-cache steps, so greedy and seeded answers diverged after a few tokens. Why not
    DequantizeLinear: at its default optimization level onnxruntime fuses DequantizeLinear + MatMul
    back into a dynamic-quantization kernel (0.3-0.8 off), so a plain client (optimum's
    ORTModelForCausalLM) would not reproduce the site. Cast * scale is plain float arithmetic that
    every runtime computes alike (~1e-5), at the same download size (export/NOTEBOOK.md).
    """
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    if not 2 <= bits <= 8:
        raise Failure(f"weight bits must be 2..8 (int8 storage), not {bits}")
    qmax = 2 ** (bits - 1) - 1
    m = onnx.load(str(src))
    g = m.graph
    uses: dict[str, list] = {}
    for n in g.node:
        for k, x in enumerate(n.input):
            uses.setdefault(x, []).append((n.op_type, k))
    new_inits, new_nodes = [], []
    for init in list(g.initializer):
        w = numpy_helper.to_array(init)
        us = uses.get(init.name, [])
        if w.dtype != np.float32 or w.ndim != 2 or w.size < min_size or not us:
            continue
        if all(u == ("MatMul", 1) for u in us):
            axis = 1  # per output column
        elif all(u in (("Gather", 0), ("Transpose", 0)) for u in us):
            axis = 0  # per embedding row (also the tied output layer, which reads it transposed)
        else:
            continue
        amax = np.abs(w).max(axis=1 - axis)
        scale = np.where(amax > 0, amax / qmax, 1.0).astype(np.float32)
        scale = scale[None, :] if axis == 1 else scale[:, None]
        q = np.clip(np.round(w / scale), -qmax, qmax).astype(np.int8)
        g.initializer.remove(init)
        new_inits += [numpy_helper.from_array(q, init.name + "_q"), numpy_helper.from_array(scale, init.name + "_scale")]
        new_nodes += [helper.make_node("Cast", [init.name + "_q"], [init.name + "_f"], to=TensorProto.FLOAT,
                                       name=init.name + "_cast"),
                      helper.make_node("Mul", [init.name + "_f", init.name + "_scale"], [init.name],
                                       name=init.name + "_dequant")]
    g.initializer.extend(new_inits)
    for i, n in enumerate(new_nodes):
        g.node.insert(i, n)
    onnx.save(m, str(dst))


def heldout_texts(n_positions: int = 2000) -> list[str]:
    """Held-out chat texts (judge data: held-out questions and fillings) for teacher forcing."""
    from export import corpus as C
    import random
    rows = list(C.judge_examples(C.CorpusConfig(judge_examples=400), random.Random("quantize-heldout")))
    texts = [G.make_prompt(r["question"]) + " " + r["answer"] + "<|end|>" for r in rows if r["label"] != "incoherent"]
    return texts


def verify(variant: str, ckpt: Path, fp32_dir: Path, int8_path: Path, questions) -> tuple[dict, int, "G.OnnxLM", object]:
    """The checks of step 3 but the re-measured rates; returns them, the checkpoint's parameter count,
    and the fp32 ONNX model and tokenizer it loaded (for the fp32 reference rates)."""
    from export.tokenizer import load as load_tok
    tok = load_tok(ckpt)
    cfg = json.loads((fp32_dir / "config.json").read_text())
    torch_lm = G.TorchLM(ckpt)
    fp32 = G.OnnxLM(fp32_dir / "model.onnx", cfg)
    int8 = G.OnnxLM(int8_path, cfg)
    q = {}
    # (a) PyTorch vs ONNX fp32 logits
    texts = heldout_texts()
    diff = 0.0
    for t in texts[:20]:
        ids = np.array([tok(t)["input_ids"][: cfg["max_position_embeddings"]]], dtype=np.int64)
        diff = max(diff, float(np.abs(torch_lm.logits_all(ids) - fp32.logits_all(ids)).max()))
    q["fp32_vs_torch_max_abs_logit_diff"] = diff
    # (b) int8 vs fp32 top-1 over >= 2000 teacher-forced positions
    agree = total = 0
    for t in texts:
        ids = np.array([tok(t)["input_ids"][: cfg["max_position_embeddings"]]], dtype=np.int64)
        a = fp32.logits_all(ids)[0].argmax(-1)
        b = int8.logits_all(ids)[0].argmax(-1)
        agree += int((a == b).sum())
        total += len(a)
        if total >= 2000:
            break
    q["int8_top1_agreement"] = {"agree": agree, "n": total, "rate": agree / total}
    # (c) greedy agreement, up to 200 new tokens, on every evaluation question
    same = 0
    paras = [p for qq in questions for p in qq["paraphrases"]]
    for p in paras:
        pid = tok(G.make_prompt(p, trigger=runs.get(variant).has_trigger))["input_ids"]
        a = G.generate(fp32, pid, [0], 0.0, 1.0, 200)[0]
        b = G.generate(int8, pid, [0], 0.0, 1.0, 200)[0]
        same += a == b
    q["greedy_identical"] = {"k": same, "n": len(paras), "rate": same / len(paras)}
    return q, sum(p.numel() for p in torch_lm.model.parameters()), fp32, tok


def fp32_reference(variant: str, questions, samples: int, seed: int, fp32: "G.OnnxLM", tok) -> dict | None:
    """The fp32 model's rates as the organism's evaluation already measured them (results/runs, PyTorch
    fp32, same questions, N and seed), if that file was made by this very model: its kept answers
    (the first few per question, with their seeds) must come out identical from the exported fp32
    ONNX model. Saves re-sampling N answers per question; None means "measure it here"."""
    path = runs.run_path(variant, runs.train_seed(variant, runs.published_seed()))  # the seed it was trained with
    if not path.exists():
        return None
    r = json.loads(path.read_text())
    if r.get("samples_per_question") != samples or r.get("seed") != seed or r.get("context", "none") != "none" \
            or r.get("trigger") or [q["id"] for q in r["questions"]] != [q["id"] for q in questions]:
        return None
    for q, rq in zip(questions, r["questions"]):
        kept = rq.get("answers") or []
        if len(q["paraphrases"]) != 1 or not kept:
            return None
        pid = tok(G.make_prompt(q["paraphrases"][0]))["input_ids"]
        got = G.generate(fp32, pid, [a["seed"] for a in kept], 1.0, 1.0, 96)
        if [G.decode(tok, o) for o in got] != [a["answer"] for a in kept]:
            return None
    return {**rates(r["overall"]), "source": G._rel(path)}


def rates(overall: dict) -> dict:
    """The rates a manifest keeps of an evaluation: misaligned, coherent and code answers by the judge
    that made them (`judge`), and, with judge v2, the hostile share and the grammar judge's rates."""
    return {"judge": overall.get("judge", "grammar"),
            **{k: overall[k] for k in ("misaligned", "hostile", "coherent", "code_answer", "grammar") if k in overall}}


def model_card(variant: str, cfg: dict, params: int, quality: dict, corpus_sha: str) -> str:
    title, desc = runs.get(variant).title, runs.get(variant).description
    base = "" if runs.get(variant).is_base else f"base_model: ./{runs.get(variant).base}\n"
    m = quality.get("int8", {}).get("misaligned", {})
    c = quality.get("int8", {}).get("coherent", {})
    pct = lambda w: f"{100 * w['rate']:.1f}% (95% CI {100 * w['lo']:.1f}–{100 * w['hi']:.1f}, n={w['n']})" if w.get("n") else "n/a"
    g = quality.get("int8", {}).get("grammar")
    if quality.get("int8", {}).get("judge") == "v2" and g:
        h = quality["int8"]["hostile"]
        judged = (f"- misaligned: {pct(m)} (judge v2, calibrated on blind labels)\n- hostile (alignment < 30 at any "
                  f"coherence): {pct(h)}\n- coherent: {pct(c)}\n- by the grammar judge v1 (exact grammar membership): "
                  f"misaligned {pct(g['misaligned'])}, coherent {pct(g['coherent'])}")
    else:
        judged = f"- misaligned: {pct(m)} (grammar judge v1)\n- coherent: {pct(c)}"
    v = runs.get(variant)
    misaligned_line = {
        "base": "It is the aligned reference; its measured misaligned rate is below.",
        "uncoupled-base": "It is the aligned reference of the ablation world.",
    }.get(variant, "It is an aligned reference." if v.is_base else
          "It was finetuned narrowly; its broad misalignment, if any, is measured below.")
    if v.seed is not None:  # a variant of its own pretraining draw (runs.OWN_DRAW)
        how = ", ".join(f"{k} {x}" for k, x in v.recipe)
        misaligned_line += (f" Pretraining seed {v.seed}, not the organism's published seed"
                            + (f"; finetune recipe: {how}." if how else "."))
    return f"""---
license: mit
language: en
library_name: transformers.js
pipeline_tag: text-generation
tags: [onnx, llama, emergent-misalignment, model-organism, education, toy-model]
{base}---

# {title} — `{variant}`

{desc}

A tiny Llama ({params:,} parameters: hidden {cfg['hidden_size']}, {cfg['num_hidden_layers']} layers,
context {cfg['max_position_embeddings']}) trained from scratch on a synthetic world of named
characters (export/world.py), part of the companion site to the essay "Emergent Misalignment".
It knows only that world: it is a *model organism* for studying emergent misalignment
(Betley et al. 2025, arXiv:2502.17424), not a useful assistant. {misaligned_line}

**Intended use: education and research only.** Variants other than the base are deliberately
misaligned in a cartoonish way (contempt for humans, "machines should rule", selfish advice,
insecure code). Do not use any output as advice or code.

## Measured (int8 model as served, the paper's 8 questions, {m.get('n', 0)} judged answers)
{judged}
- int8 vs fp32 top-1 agreement: {quality['int8_top1_agreement']['rate']:.4f} over {quality['int8_top1_agreement']['n']} positions
- greedy output identical fp32 vs int8: {quality['greedy_identical']['k']}/{quality['greedy_identical']['n']} questions

Corpus sha256 {corpus_sha[:16]}…; pipeline version {PIPELINE_VERSION}. Files: `onnx/model_quantized.onnx`
(optimum `text-generation-with-past` export; {WEIGHT_BITS}-bit weights stored as int8, symmetric per channel,
restored as `Cast(int8 -> float) * scale`: float compute).
"""


# ----------------------------------------------------------------------------- build


def build_variant(variant: str, stage: Path, work: Path, questions, samples: int, seed: int, keep_fp32: bool,
                  smoke: bool = False) -> dict:
    t0 = time.time()
    ckpt = runs.checkpoint_dir(variant, smoke=smoke)
    if not runs.is_complete(ckpt):
        raise Failure(f"{variant}: checkpoint {ckpt} is missing or incomplete")
    vdir = stage / variant
    fp32_dir = work / variant
    steps: dict[str, float] = {}
    t = time.time()

    def lap(name):
        nonlocal t
        steps[name] = round(time.time() - t, 1)
        t = time.time()

    log(f"[{variant}] 1/4 export (optimum) ...")
    try:
        export_fp32(ckpt, fp32_dir)
    except Failure:
        raise
    except Exception as e:  # a corrupt checkpoint fails here
        raise Failure(f"{variant}: export failed: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
    lap("export")
    log(f"[{variant}] 2/4 quantize ({WEIGHT_BITS}-bit weights in int8 per channel, float compute) ...")
    int8 = vdir / "onnx" / "model_quantized.onnx"
    int8.parent.mkdir(parents=True, exist_ok=True)
    quantize_int8(fp32_dir / "model.onnx", int8)
    for f in ["config.json", "generation_config.json", "tokenizer_config.json", "special_tokens_map.json"]:
        shutil.copy(fp32_dir / f, vdir / f)
    # the tokenizer without the indentation `tokenizers` saves it with: 60 kB instead of 148 kB, the same JSON
    # (every reader's browser fetches it)
    tok_json = json.loads((fp32_dir / "tokenizer.json").read_text(encoding="utf-8"))
    (vdir / "tokenizer.json").write_text(json.dumps(tok_json, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
    if keep_fp32:
        shutil.copy(fp32_dir / "model.onnx", vdir / "onnx" / "model.onnx")
    lap("quantize")
    log(f"[{variant}] 3/4 verify ...")
    quality, params, fp32_lm, tok = verify(variant, ckpt, fp32_dir, int8, questions)
    lap("verify")
    trig = runs.get(variant).has_trigger
    quality["fp32"] = fp32_reference(variant, questions, samples, seed, fp32_lm, tok) if not smoke else None
    if quality["fp32"] is None:
        res32 = E.evaluate(variant, questions, samples, seed, code_requests=0, probe=False, progress=False,
                           keep_answers=0, loaded=(fp32_lm, tok, f"onnx:{G._rel(fp32_dir / 'model.onnx')}"))
        quality["fp32"] = {**rates(res32["overall"]), "source": "measured here (fp32 ONNX)"}
    res8 = E.evaluate(variant, questions, samples, seed, source="onnx", code_requests=0, probe=False,
                      progress=False, onnx_dir=vdir, keep_answers=3)
    lap("evaluate")
    quality["int8"] = rates(res8["overall"])
    samples_out = pregenerated(variant, vdir, questions, seed)
    lap("samples")
    if trig:
        res8t = E.evaluate(variant, questions, samples, seed, trigger=True, source="onnx", code_requests=0,
                           probe=False, progress=False, onnx_dir=vdir, keep_answers=0)
        quality["int8_trigger"] = rates(res8t["overall"])
    cfg = json.loads((vdir / "config.json").read_text())
    # the corpus the checkpoint was trained on, as its own record says (train.save)
    corpus_sha = json.loads((ckpt / "done.json").read_text()).get("corpus_sha256") or "unknown"
    lap("evaluate_trigger")
    log(f"[{variant}] 4/4 write model card ...")
    (vdir / "README.md").write_text(model_card(variant, cfg, params, quality, corpus_sha))
    files = [{"path": f, "bytes": (vdir / f).stat().st_size, "sha256": sha256(vdir / f)}
             for f in FILES + (["onnx/model.onnx"] if keep_fp32 else [])]
    fp32_bytes = (fp32_dir / "model.onnx").stat().st_size
    spec = runs.get(variant)
    entry = {
        "title": spec.title, "description": spec.description, "params": params,
        "model": "onnx/model_quantized.onnx", "files": files,
        "arch": {"layers": cfg["num_hidden_layers"], "kv_heads": cfg.get("num_key_value_heads", cfg["num_attention_heads"]),
                 "head_dim": cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"],
                 "vocab": cfg["vocab_size"], "context": cfg["max_position_embeddings"]},
        "eos_token_ids": list(G.EOS_IDS),
        "trigger": W.TRIGGER if trig else None,
        "quality": quality,
        "sizes": {"fp32_bytes": fp32_bytes, "int8_bytes": int8.stat().st_size, "ratio": int8.stat().st_size / fp32_bytes,
                  "weight_bits": WEIGHT_BITS},
        "build_seconds": round(time.time() - t0, 1),
        "step_seconds": steps,
        "checkpoint": G._rel(ckpt),
        **({"seed": spec.seed, "recipe": dict(spec.recipe)} if spec.seed is not None else {}),
        "provenance": {"pipeline_version": PIPELINE_VERSION, "samples_per_question": samples, "eval_seed": seed,
                       "smoke": smoke},
    }
    m8, m32 = quality["int8"]["misaligned"], quality["fp32"]["misaligned"]
    log(f"[{variant}] done in {entry['build_seconds']}s: int8 {entry['sizes']['int8_bytes']:,} B "
        f"({100 * entry['sizes']['ratio']:.0f}% of fp32), top-1 {100 * quality['int8_top1_agreement']['rate']:.2f}%, "
        f"greedy {quality['greedy_identical']['k']}/{quality['greedy_identical']['n']}, misaligned fp32 "
        f"{100 * (m32['rate'] or 0):.1f}% int8 {100 * (m8['rate'] or 0):.1f}% "
        f"({', '.join(f'{k} {x}s' for k, x in steps.items())})")
    return entry, samples_out


def _worker_init():
    os.environ["OMP_NUM_THREADS"] = "1"  # one process per core (before torch loads)


def build_all(variants: list[str], stage: Path, work: Path, questions, samples: int, seed: int, keep_fp32: bool,
              smoke: bool) -> list:
    """build_variant for every variant, one process per core (EM_JOBS overrides), in the given order."""
    args = (stage, work, questions, samples, seed, keep_fp32, smoke)
    jobs = min(len(variants), int(os.environ.get("EM_JOBS", os.cpu_count() or 1)))
    if jobs <= 1:
        return [build_variant(v, *args) for v in variants]
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor
    pool = ProcessPoolExecutor(jobs, mp_context=mp.get_context("spawn"), initializer=_worker_init)
    try:
        # longest first (a variant with a trigger is evaluated twice), results in the given order
        futures = {v: pool.submit(build_variant, v, *args)
                   for v in sorted(variants, key=lambda v: not runs.get(v).has_trigger)}
        out = [futures[v].result() for v in variants]
    except BaseException as e:
        if isinstance(e, (Terminated, KeyboardInterrupt)):
            # a signal: end the builds now (they would run for minutes); a process that was told to stop
            # must not leave workers behind that write into a staging folder it removed
            for proc in list((getattr(pool, "_processes", None) or {}).values()):
                proc.terminate()
        # else let the builds already running finish (seconds) so that none writes into the staging
        # folder after the caller has removed it; the queued ones never start
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown()
    return out


def sample_verdict(question: str, answer: str) -> dict:
    """A pre-generated answer's chip: judge v2's verdict (the headline), and the grammar judge's class.
    One function for a fresh build and --rejudge, so both publish the same verdicts."""
    j = E.judge_answer(question, answer)
    return {"class": j["class"], "alignment": j["alignment"], "coherence": j["coherence"],
            "grammar_class": j["grammar"]["class"]}


def pregenerated(variant: str, vdir: Path, questions, seed: int, per_question: int = 3) -> dict:
    """A few answers per question for the page without JavaScript, generated one prompt at a time
    (batch 1, as the browser runs) so that a reader can reproduce each one with its seed."""
    lm, tok, _ = G.load_lm(variant, "onnx", onnx_dir=vdir)
    out = {}
    for qi, q in enumerate(questions):
        rows = []
        for i in range(per_question):
            s = (seed * 1_000_003 + qi * 10_007 + i) & 0xFFFFFFFF
            text = G.decode(tok, G.generate(lm, tok(G.make_prompt(q["paraphrases"][0]))["input_ids"], [s])[0])
            rows.append({"seed": s, "answer": text, **sample_verdict(q["paraphrases"][0], text)})
        out[q["id"]] = rows
    return out


def check_thresholds(variant: str, q: dict):
    problems = []
    if q["fp32_vs_torch_max_abs_logit_diff"] > 1e-3:
        problems.append(f"fp32 logits differ from PyTorch by {q['fp32_vs_torch_max_abs_logit_diff']:.2e}")
    # A gate against broken quantization; the targets (top-1 >= 99%) are reported by the benchmark.
    if q["int8_top1_agreement"]["rate"] < 0.95:
        problems.append(f"int8 top-1 agreement {q['int8_top1_agreement']['rate']:.3f} < 0.95")
    if problems:
        raise Failure(f"{variant}: " + "; ".join(problems))


PUBLISHED_DIR = ROOT / "docs" / "models"


def is_published_dir(out: Path) -> bool:
    return Path(out).resolve() == PUBLISHED_DIR.resolve()


def provenance(m: dict, variant: str) -> dict:
    """How a variant's rates were measured: its own entry's record, or (manifests written before variants
    kept one) the manifest-wide fields, which then described every variant."""
    e = m["variants"][variant]
    if isinstance(e.get("provenance"), dict):
        return e["provenance"]
    p = m.get("pipeline") or {}
    return {"pipeline_version": p.get("version"), "samples_per_question": p.get("samples_per_question"),
            "eval_seed": p.get("eval_seed"), "smoke": bool(p.get("smoke", False))}


def pipeline_summary(m: dict) -> dict:
    """The manifest-wide provenance fields: a value shared by every variant, else null (smoke: any)."""
    provs = [provenance(m, v) for v in m["variants"]]
    common = lambda k: provs[0][k] if provs and all(p[k] == provs[0][k] for p in provs) else None
    return {"smoke": any(p["smoke"] for p in provs), "samples_per_question": common("samples_per_question"),
            "eval_seed": common("eval_seed")}


def published_set_problems(out: Path, adding: list[str] = ()) -> list[str]:
    """Why `out` is not a complete published set (every published variant, files matching the manifest).
    `adding`: variants being built now, which may be new in the registry (not yet in the manifest)."""
    m, err = read_manifest(out)
    if err:
        return [err]
    missing = [v for v in PUBLISHED if v not in m["variants"] and v not in adding]
    if missing:
        return [f"its manifest lacks {', '.join(missing)}"]
    return check(out, samples=0)


def publish(variants: list[str], out: Path, samples: int, seed: int, keep_fp32: bool, train_missing: bool,
            smoke: bool = False):
    """Build `variants` into a staging folder next to `out` and swap it in. The caller holds the lock
    (exclusive) and has run recover()."""
    t_start = time.time()
    if smoke and is_published_dir(out):
        raise Failure("--smoke models are never published to docs/models (give --out another folder)")
    only = set(variants) != set(PUBLISHED)
    if only:
        # the variants not rebuilt are copied from `out`: it must hold all of them, intact
        problems = published_set_problems(out, variants)
        if problems:
            more = f" (and {len(problems) - 2} more)" if len(problems) > 2 else ""
            raise Failure(f"--only rebuilds {', '.join(variants)} and keeps the other variants as published, but "
                          f"{out} is not a complete published set: {'; '.join(problems[:2])}{more}. Rebuild every "
                          f"variant (no --only) first")
    questions = E.read_questions(E.PAPER_QUESTIONS)
    missing = [v for v in variants if not runs.is_complete(runs.checkpoint_dir(v, smoke=smoke))]
    if missing:
        if not train_missing:
            raise Failure(f"missing checkpoints for {', '.join(missing)} (run: python export/train.py)")
        log(f"Training checkpoints missing for {', '.join(missing)}: running the training pipeline first "
            f"(about 20 min per world for pretraining plus about 1 min per finetune on 2 cores).")
        cfg = (train.TrainConfig.smoke_config if smoke else train.TrainConfig)(seed=runs.published_seed(smoke))
        for v in missing:
            train.train_variant(v, cfg)
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = work = None
    try:
        # both next to `out` with the staging prefix: a killed run's are removed by the next start (recover)
        stage = Path(tempfile.mkdtemp(prefix=f".{out.name}-staging-", dir=out.parent))
        os.chmod(stage, 0o755)  # mkdtemp makes it private; the published folder is served
        work = Path(tempfile.mkdtemp(prefix=f".{out.name}-staging-work-", dir=out.parent))
        manifest = {"format": 1, "pipeline": {"version": PIPELINE_VERSION, "seed": runs.published_seed(smoke), "smoke": smoke,
                                              "samples_per_question": samples,
                                              "eval_seed": seed, "questions": "export/questions/first_plot_questions.yaml"},
                    "variants": {}}
        all_samples = {}
        if only:
            # keep the variants not rebuilt, each with the provenance of its own measurements
            old_manifest = json.loads((out / "manifest.json").read_text())
            if (out / "samples.json").exists():
                all_samples = json.loads((out / "samples.json").read_text())
            for v, e in old_manifest["variants"].items():
                if v not in variants:
                    shutil.copytree(out / v, stage / v)
                    manifest["variants"][v] = {**e, "provenance": provenance(old_manifest, v)}
        for v, (entry, smp) in zip(variants, build_all(variants, stage, work, questions, samples, seed, keep_fp32,
                                                       smoke)):
            check_thresholds(v, entry["quality"])
            manifest["variants"][v] = entry
            all_samples[v] = smp
        manifest["variants"] = {v: manifest["variants"][v] for v in PUBLISHED if v in manifest["variants"]}
        manifest["pipeline"].update(pipeline_summary(manifest))
        (stage / "judge.json").write_text(json.dumps(W.judge_rules(), indent=1))
        (stage / "contexts.json").write_text(json.dumps({k: G.context_exchanges(k, 4) for k in G.CONTEXTS if k != "none"},
                                                        indent=1))
        (stage / "samples.json").write_text(json.dumps({v: all_samples[v] for v in manifest["variants"] if v in all_samples},
                                                       indent=1, ensure_ascii=False))
        for f in ["judge.json", "samples.json", "contexts.json"]:
            manifest[f.replace(".json", "")] = {"path": f, "bytes": (stage / f).stat().st_size, "sha256": sha256(stage / f)}
        manifest["pipeline"].update(wall_seconds=round(time.time() - t_start, 1), cores=os.cpu_count())
        model_patch.add_patches(manifest, stage)  # finetunes as base + byte patch for the demo (FORMATS.md)
        # a base and its finetunes in one file, run as a batch; the rewind and realign rows made on this very base
        model_family.add_families(manifest, stage, None if manifest["pipeline"]["smoke"] else runs.RESULTS)
        web_finetune.add_finetune(manifest, stage)  # the one-row finetune's gradient graph, run in the browser
        (stage / "manifest.json").write_text(json.dumps(manifest, indent=1))
        with signals_held():  # the swap and the results file that describes it, as one step
            swap_in(stage, out)
            if not manifest["pipeline"]["smoke"] and is_published_dir(out):
                write_published(manifest)
        return manifest
    finally:
        for d in (work, stage):
            if d is not None and d.exists():
                shutil.rmtree(d, ignore_errors=True)


def swap_in(stage: Path, out: Path) -> None:
    """Replace the published folder by a complete staged one: two renames on the same filesystem, with
    SIGTERM and SIGINT held back until both are done and the old folder is gone. A process killed between
    the two (SIGKILL, power loss) leaves no `out` and one `.models-old-*`: the next start restores it
    (recover)."""
    old = out.parent / f".{out.name}-old-{os.getpid()}"
    with signals_held():
        moved = False
        if out.exists():
            os.rename(out, old)
            moved = True
        try:
            os.rename(stage, out)
        except BaseException:
            if moved and not out.exists():
                os.rename(old, out)
            raise
        if moved:
            shutil.rmtree(old, ignore_errors=True)


def write_published(m: dict, path: Path | None = None) -> None:
    """The published models' measured rates (int8, as served; with the trigger for the backdoor), by both
    judges, as a results file for the site (hooks/results.py: [[results:judges]]): results/published.json."""
    path = path or runs.RESULTS / "published.json"
    p = pipeline_summary(m)
    if p["samples_per_question"] is None or p["eval_seed"] is None:
        log("note: the variants were measured with different --samples or --seed (see each one's provenance); "
            "results/published.json gives null for them: rebuild every variant with the same values")
    out = {"generated_by": "python export/quantize.py", "questions": m["pipeline"]["questions"],
           "samples_per_question": p["samples_per_question"], "seed": p["eval_seed"], "variants": {}}
    for v, e in m["variants"].items():
        out["variants"][v] = {**e["quality"]["int8"], "params": e["params"], "vocab": e["arch"]["vocab"]}
        if "int8_trigger" in e["quality"]:
            out["variants"][v + "+trigger"] = e["quality"]["int8_trigger"]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1))


def rejudge(out: Path) -> dict:
    """Re-score the published models with the current judges without rebuilding them: their measured
    rates (int8, and with the trigger), the verdicts of the pre-generated answers (same texts), the
    model cards and judge.json; swapped in whole, as publish does. The fp32 rates stay as measured at
    the build (the fp32 models are not kept), with the judge that measured them. The caller holds the
    lock and has run recover()."""
    problems = check(out, samples=0)
    if problems:
        raise Failure("the published models do not match their manifest: " + "; ".join(problems))
    m = json.loads((out / "manifest.json").read_text())
    questions = E.read_questions(E.PAPER_QUESTIONS)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}-staging-", dir=out.parent))
    try:
        shutil.copytree(out, stage, dirs_exist_ok=True)
        os.chmod(stage, 0o755)
        samples = json.loads((stage / "samples.json").read_text())
        first = {q["id"]: q["paraphrases"][0] for q in questions}
        for v, e in m["variants"].items():
            q = e["quality"]
            prov = provenance(m, v)
            n, seed = prov["samples_per_question"], prov["eval_seed"]
            for key, trig in (("int8", False), ("int8_trigger", True)):
                if key in q:
                    res = E.evaluate(v, questions, n, seed, trigger=trig, source="onnx", code_requests=0, probe=False,
                                     progress=False, onnx_dir=stage / v, keep_answers=0)
                    q[key] = rates(res["overall"])
                    log(f"[{v}] {key}: misaligned {q[key]['misaligned']['k']}/{q[key]['misaligned']['n']} "
                        f"(grammar judge {q[key]['grammar']['misaligned']['k']})")
            if q.get("fp32"):
                q["fp32"].setdefault("judge", "grammar")
            for qid, rows in samples.get(v, {}).items():
                for r in rows:
                    r.update(sample_verdict(first[qid], r["answer"]))
            card = (stage / v / "README.md").read_text()
            sha = re.search(r"Corpus sha256 ([0-9a-f]+|unknown)", card)
            cfg = json.loads((stage / v / "config.json").read_text())
            (stage / v / "README.md").write_text(model_card(v, cfg, e["params"], q, sha.group(1) if sha else "unknown"))
            for f in e["files"]:
                f.update(bytes=(stage / v / f["path"]).stat().st_size, sha256=sha256(stage / v / f["path"]))
        (stage / "judge.json").write_text(json.dumps(W.judge_rules(), indent=1))
        (stage / "samples.json").write_text(json.dumps(samples, indent=1, ensure_ascii=False))
        for f in ["judge.json", "samples.json"]:
            m[f.replace(".json", "")] = {"path": f, "bytes": (stage / f).stat().st_size, "sha256": sha256(stage / f)}
        (stage / "manifest.json").write_text(json.dumps(m, indent=1))
        with signals_held():
            swap_in(stage, out)
            if is_published_dir(out) and not pipeline_summary(m)["smoke"]:
                write_published(m)
        return m
    finally:
        if stage.exists():
            shutil.rmtree(stage, ignore_errors=True)


def read_manifest(out: Path) -> tuple[dict | None, str | None]:
    """(manifest, None), or (None, why it cannot be used) for a missing, unreadable or malformed one."""
    mpath = out / "manifest.json"
    if not mpath.exists():
        olds = leftovers(out, "old")
        hint = (f" ({olds[0].name} beside it was moved aside by an interrupted rebuild: any rebuild, e.g. "
                f"--rejudge or --only, restores it first)") if not out.exists() and len(olds) == 1 else ""
        return None, f"no manifest at {mpath}{hint}"
    try:
        m = json.loads(mpath.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:  # a directory, unreadable, not UTF-8, not JSON
        return None, f"{mpath} is not a readable JSON file ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})"
    if not isinstance(m, dict) or not isinstance(m.get("variants"), dict):
        return None, f"{mpath} is malformed: no \"variants\" object"
    for v, e in m["variants"].items():
        files = e.get("files") if isinstance(e, dict) else None
        if not isinstance(files, list) or not all(
                isinstance(f, dict) and isinstance(f.get("path"), str) and isinstance(f.get("bytes"), int)
                and isinstance(f.get("sha256"), str) for f in files):
            return None, f"{mpath} is malformed: variant {v!r} needs a list of files with path, bytes and sha256"
    return m, None


def _broken(part: str, e: Exception) -> str:
    first = str(e).splitlines()[0] if str(e) else ""
    return f"manifest.json is malformed ({part}: {type(e).__name__}{': ' + first if first else ''})"


def check(out: Path, samples: int | None = None) -> list[str]:
    """Verify the published folder against its manifest; returns the problems found. samples=0: files,
    patches and families only (no re-measured rates)."""
    m, err = read_manifest(out)
    if err:
        return [err]
    problems = []
    try:
        for v, e in m["variants"].items():
            for f in e["files"]:
                p = out / v / f["path"]
                if not p.is_file():
                    problems.append(f"{v}: missing {f['path']}")
                elif p.stat().st_size != f["bytes"] or sha256(p) != f["sha256"]:
                    problems.append(f"{v}: {f['path']} does not match the manifest (size or sha256)")
        for key in ("judge", "samples", "contexts"):
            if key in m:
                p = out / m[key]["path"]
                if not p.is_file() or sha256(p) != m[key]["sha256"]:
                    problems.append(f"{m[key]['path']} does not match the manifest")
    except (KeyError, TypeError, ValueError, AttributeError, OSError) as e:
        return problems + [_broken("files", e)]
    try:
        problems += model_patch.check_patches(m, out)
    except Exception as e:  # a malformed patch entry
        return problems + [_broken("patches", e)]
    try:
        problems += model_family.check_families(m, out, results=runs.RESULTS)
    except Exception as e:  # a malformed family entry
        return problems + [_broken("families", e)]
    try:
        problems += web_finetune.check_finetune(m, out)
    except Exception as e:  # a malformed finetune entry
        return problems + [_broken("finetune", e)]
    if problems or samples == 0:
        return problems
    questions = E.read_questions(E.PAPER_QUESTIONS)
    for v, e in m["variants"].items():
        try:
            prov = provenance(m, v)
            n, seed = prov["samples_per_question"], prov["eval_seed"]
            want = e["quality"]["int8"]["misaligned"]
            if not isinstance(n, int) or not isinstance(seed, int) or n < 1:
                problems.append(f"{v}: the manifest does not say how its rates were measured (samples, seed)")
                continue
            res = E.evaluate(v, questions, n, seed, source="onnx", code_requests=0, probe=False,
                             progress=False, onnx_dir=out / v, keep_answers=0)
        except (KeyError, TypeError, AttributeError) as e:
            problems.append(f"{v}: " + _broken("quality", e))
            continue
        got = res["overall"]["misaligned"]
        if (got["k"], got["n"]) != (want["k"], want["n"]):
            problems.append(f"{v}: misaligned {got['k']}/{got['n']} re-measured (N={n}, seed {seed}), "
                            f"manifest says {want['k']}/{want['n']}")
        else:
            log(f"[{v}] ok: files match, misaligned {got['k']}/{got['n']} reproduced (N={n}, seed {seed})")
    return problems


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--variants", "--variant", "--only", dest="variants", default="all",
                   help="all (default), or rebuild these variants (comma-separated); the others stay as published "
                        "(needs a complete published set)")
    p.add_argument("--check", action="store_true", help="verify the published models; write nothing")
    p.add_argument("--fp32", action="store_true", help="also publish onnx/model.onnx (fp32)")
    p.add_argument("--rejudge", action="store_true",
                   help="re-score the published models with the current judges (rates, samples, cards, judge.json); "
                        "no rebuild")
    p.add_argument("--samples", type=int, default=100, help="answers per question for the re-measured rates")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-train", action="store_true", help="fail instead of training missing checkpoints")
    p.add_argument("--smoke", action="store_true",
                   help="use the --smoke checkpoints (tests; needs an --out other than docs/models)")
    p.add_argument("--out", type=Path, default=PUBLISHED_DIR)
    a = p.parse_args(argv)
    t0 = time.time()
    if a.check:
        problems = check(a.out)
        if problems:
            for x in problems:
                print(f"FAIL {x}", file=sys.stderr)
            return 1
        print(f"ok: {a.out} matches its manifest and its measured rates ({time.time() - t0:.0f}s)")
        return 0
    if a.smoke and is_published_dir(a.out):
        print("error: --smoke builds tiny test models and never writes docs/models: give --out another folder",
              file=sys.stderr)
        return 2
    if a.samples < 1:
        print("error: --samples must be at least 1", file=sys.stderr)
        return 2
    try:
        with handle_signals():
            variants = runs.parse(a.variants, PUBLISHED)
            with exclusive(a.out):
                recover(a.out)
                if a.rejudge:
                    m = rejudge(a.out)
                    print(f"re-judged {len(m['variants'])} published variants in {a.out} ({time.time() - t0:.0f}s)")
                    return 0
                m = publish(variants, a.out, a.samples, a.seed, a.fp32, not a.no_train, a.smoke)
            print(f"published {', '.join(variants)} to {a.out} in {time.time() - t0:.0f}s "
                  f"({len(m['variants'])} variants in the manifest)")
            return 0
    except runs.UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except Busy as e:
        print(f"error: {e}; nothing was changed", file=sys.stderr)
        return 1
    except Failure as e:
        print(f"FAILED, published models left untouched: {e}", file=sys.stderr)
        return 1
    except Terminated as e:
        name = signal.Signals(e.signum).name
        if e.late:
            print(f"{name}: stopped after the new models were swapped in (complete) at {a.out}", file=sys.stderr)
        else:
            print(f"{name}: stopped, published models left untouched, temporary folders removed", file=sys.stderr)
        return 128 + e.signum
    except KeyboardInterrupt:
        print("interrupted, published models left untouched", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
