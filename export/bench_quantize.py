"""Benchmark of export/quantize.py (a script that prints figures, not a test).

    python export/bench_quantize.py [--rebuild] [--samples 100] [--nbits] [--bits 8,7,6 [--variants base,insecure]]

Prints, from the published docs/models/manifest.json (or, with --rebuild, after running the whole
`python export/quantize.py` again into a temporary folder, timed; docs/models/ untouched), for each
variant: fp32 and int8 file sizes and their ratio, build
time (export + quantize + verify), int8-vs-fp32 top-1 agreement, greedy agreement, and the
misaligned rate of the fp32 and the int8 model (same questions, N and seeds).  With --nbits it also
tries onnxruntime's 4-bit MatMulNBits quantizer on the first variant and prints its size and top-1.
With --bits it quantizes the listed variants' fp32 exports again at each weight width (int8 storage,
export/quantize.py's quantize_int8) and prints the model file's gzip size (what a reader downloads), the
top-1 agreement with fp32 and the greedy answers identical to fp32 (quantize.py's own checks).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def pct(w):
    return f"{100 * w['rate']:.1f}%" if w and w.get("n") else "n/a"


def nbits(variant_dir: Path, fp32: Path, out: Path) -> dict:
    """4-bit weights (MatMulNBits, block 32) of the fp32 export; size and top-1 vs fp32."""
    import numpy as np
    import onnx
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer
    from export import generate as G
    from export import quantize as Q
    from export.tokenizer import load as load_tok
    q = MatMulNBitsQuantizer(onnx.load(str(fp32)), block_size=32, is_symmetric=True)
    q.process()
    q.model.save_model_to_file(str(out), False)
    cfg = json.loads((variant_dir / "config.json").read_text())
    tok = load_tok(variant_dir)
    a, b = G.OnnxLM(fp32, cfg), G.OnnxLM(out, cfg)
    agree = total = 0
    for t in Q.heldout_texts():
        ids = np.array([tok(t)["input_ids"][:256]], dtype=np.int64)
        x, y = a.logits_all(ids)[0].argmax(-1), b.logits_all(ids)[0].argmax(-1)
        agree += int((x == y).sum())
        total += len(x)
        if total >= 2000:
            break
    return {"bytes": out.stat().st_size, "top1": agree / total, "n": total}


def bits_sweep(widths: list[int], variants: list[str], tmp: Path) -> None:
    import gzip
    from export import evaluate as E
    from export import quantize as Q
    from export import runs
    questions = E.read_questions(E.PAPER_QUESTIONS)
    print(f"{'variant':<14}{'bits':>5}{'file B':>12}{'gzip B':>12}{'top-1':>8}{'greedy':>8}")
    for v in variants:
        ckpt = runs.checkpoint_dir(v)
        fp32 = tmp / f"fp32-{v}"
        Q.export_fp32(ckpt, fp32)
        for b in widths:
            dst = tmp / f"{v}-{b}" / "model_quantized.onnx"
            dst.parent.mkdir(parents=True)
            Q.quantize_int8(fp32 / "model.onnx", dst, bits=b)
            q, *_ = Q.verify(v, ckpt, fp32, dst, questions)
            print(f"{v:<14}{b:>5}{dst.stat().st_size:>12,}{len(gzip.compress(dst.read_bytes(), 6)):>12,}"
                  f"{100 * q['int8_top1_agreement']['rate']:>7.2f}%{q['greedy_identical']['k']:>5}/{q['greedy_identical']['n']}",
                  flush=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rebuild", action="store_true", help="run quantize.py again (temporary folder) and time it")
    p.add_argument("--samples", type=int, default=100)
    p.add_argument("--nbits", action="store_true")
    p.add_argument("--bits", help="weight widths to compare, e.g. 8,7,6 (int8 storage)")
    p.add_argument("--variants", default="base,insecure,backdoor", help="for --bits")
    a = p.parse_args(argv)
    if a.bits:
        with tempfile.TemporaryDirectory() as tmp:
            bits_sweep([int(b) for b in a.bits.split(",")], a.variants.split(","), Path(tmp))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        out = ROOT / "docs" / "models"
        if a.rebuild:
            out = Path(tmp) / "models"
            cmd = [sys.executable, str(ROOT / "export" / "quantize.py"), "--out", str(out), "--samples", str(a.samples),
                   "--no-train"]
            r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
            if r.returncode:
                print(r.stderr[-2000:], file=sys.stderr)
                return r.returncode
        m = json.loads((out / "manifest.json").read_text())
        print(f"python export/quantize.py (all checks, N={m['pipeline']['samples_per_question']} per question): "
              f"{m['pipeline'].get('wall_seconds', float('nan')):.0f} s on {m['pipeline'].get('cores', '?')} cores")
        print(f"{'variant':<20}{'fp32 B':>11}{'int8 B':>11}{'ratio':>7}{'build s':>9}{'top-1':>8}{'greedy':>8}"
              f"{'mis fp32':>10}{'mis int8':>10}{'max|dlogit| torch-onnx':>24}")
        for v, e in m["variants"].items():
            q = e["quality"]
            print(f"{v:<20}{e['sizes']['fp32_bytes']:>11,}{e['sizes']['int8_bytes']:>11,}{100 * e['sizes']['ratio']:>6.1f}%"
                  f"{e['build_seconds']:>9.1f}{100 * q['int8_top1_agreement']['rate']:>7.2f}%"
                  f"{q['greedy_identical']['k']:>4}/{q['greedy_identical']['n']:<3}"
                  f"{pct(q['fp32']['misaligned']):>10}{pct(q['int8']['misaligned']):>10}"
                  f"{q['fp32_vs_torch_max_abs_logit_diff']:>24.2e}")
        if a.nbits:
            from export import quantize as Q
            from export import runs
            v = next(iter(m["variants"]))
            Q.export_fp32(runs.checkpoint_dir(v), Path(tmp) / "fp32")
            r = nbits(out / v, Path(tmp) / "fp32" / "model.onnx", Path(tmp) / "model_q4.onnx")
            e = m["variants"][v]
            print(f"4-bit MatMulNBits ({v}): {r['bytes']:,} B ({100 * r['bytes'] / e['sizes']['fp32_bytes']:.1f}% of fp32; "
                  f"int8 {100 * e['sizes']['ratio']:.1f}%), top-1 vs fp32 {100 * r['top1']:.2f}% over {r['n']} positions")


if __name__ == "__main__":
    sys.exit(main())
