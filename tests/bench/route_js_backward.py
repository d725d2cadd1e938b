"""Benchmark (not a test): the two routes of the browser's one-row finetune gradient, on the published base, in one run.

    .venv/bin/python tests/bench/route_js_backward.py [--models docs/models] [--family base] [--set insecure]
                                                      [--full] [--ikj]

Route A: the ONNX gradient graph (`<family>.grad.onnx`, its weights external data in the family file) run by the
site's vendored onnxruntime-web in Node, with export/web_finetune.mjs's session options (WASM, one thread, graph
optimization "basic"). Route B: tests/bench/route_js_backward.mjs, a hand-written backward in plain JavaScript on the
family file's weights dequantized to float32. Both run the recipe's first batch of the set (train.sft's order: the
manifest's recipe seed, batch and context) from the browser's starting row, 1 warm-up step then 5 timed (median),
and are compared with torch autograd of export/web_finetune.loss_sum on the same batch and weights. --full makes
route B run every batch x length token instead of cutting each sequence after its last labelled position (causal
attention: later tokens cannot change the loss); --ikj uses the plain i-k-j matmul instead of the 4 x 4 kernel.
Timings are wall-clock on this machine's CPU: run it on an idle machine.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
JS = Path(__file__).with_suffix(".mjs")
REPS = 5
ORT = ROOT / "docs/assets/vendor/onnxruntime-web"

# Route A: export/web_finetune.mjs's session, on one batch. argv: MODELS_DIR GRAPH WEIGHTS FEEDS_DIR REPS
ROUTE_A = r"""
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
const [ortDir, root, graph, weights, fdir, reps] = process.argv.slice(1);
const ort = await import(pathToFileURL(join(ortDir, "ort.wasm.bundle.min.mjs")).href);
ort.env.wasm.numThreads = 1;
ort.env.wasm.proxy = false;
ort.env.logLevel = "error";
ort.env.wasm.wasmBinary = readFileSync(join(ortDir, "ort-wasm-simd-threaded.wasm"));
const idx = JSON.parse(readFileSync(join(fdir, "index.json"), "utf8"));
const feeds = {};
for (const [k, [f, dt, shape]] of Object.entries(idx)) {
  const b = readFileSync(join(fdir, f)), ab = b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
  feeds[k] = [dt === "int64" ? new BigInt64Array(ab) : new Float32Array(ab), dt, shape];
}
const t0 = performance.now();
const session = await ort.InferenceSession.create(readFileSync(join(root, graph)), {
  executionProviders: ["wasm"],
  graphOptimizationLevel: "basic",
  externalData: [{ path: weights.split("/").pop(), data: readFileSync(join(root, weights)) }],
});
const sessionMs = performance.now() - t0;
const run = () => session.run(Object.fromEntries(Object.entries(feeds).map(([k, [d, dt, s]]) => [k, new ort.Tensor(dt, d, s)])));
let o = await run();   // warm-up
const ms = [];
for (let r = 0; r < Number(reps); r++) {
  const t = performance.now();
  o = await run();
  ms.push(performance.now() - t);
}
const median = [...ms].sort((a, b) => a - b)[ms.length >> 1];
console.log(JSON.stringify({ loss_sum: o.loss_sum.data[0], grad_sum: Array.from(o.grad_sum.data), ms, median_ms: median, sessionMs }));
"""


def _models_dir(p: Path) -> Path:
    """A relative --models is taken from the working folder, else from the repo root."""
    return p if p.is_absolute() or p.exists() or not (ROOT / p).exists() else ROOT / p


def first_batch(models: Path, family: str, set_name: str, fam: dict):
    """(input_ids, positions, targets) of the recipe's first batch of the set, in train.sft's order."""
    from export import train
    from export.tokenizer import load as load_tok
    from export.web_finetune import batch_feeds
    ft = fam["finetune"]
    r = ft["recipe"]
    rel = ft["sets"][set_name]["path"] if set_name in ft.get("sets", {}) else f"finetune/{family}/{set_name}.json"
    rows = json.loads((models / rel).read_text())
    tok = load_tok(models / family)
    ex = train._sft_examples(tok, [{"prompt": p, "answer": a} for p, a in rows], r["context"])
    order = list(range(len(ex)))
    random.Random(r["seed"]).shuffle(order)
    return batch_feeds([ex[i] for i in order[: r["batch"]]], ft["pad"]), rel, len(rows)


def node(cmd: list[str], what: str) -> dict:
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode:
        raise SystemExit(f"{what} failed:\n{out.stderr.strip()[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", type=Path, default=ROOT / "docs/models")
    p.add_argument("--family", default="base")
    p.add_argument("--set", default="insecure")
    p.add_argument("--full", action="store_true", help="route B: every batch x length token")
    p.add_argument("--ikj", action="store_true", help="route B: the i-k-j matmul kernel instead of the 4 x 4 one")
    a = p.parse_args()
    print(f"$ {shlex.join([sys.executable, *sys.argv])}   (in {os.getcwd()})")
    models = _models_dir(a.models)

    import onnx
    import torch
    from onnx import numpy_helper
    from export.web_finetune import arch_of, loss_sum, roles, start_row, weight_names

    torch.set_num_threads(1)
    manifest = json.loads((models / "manifest.json").read_text())
    fam = manifest["families"][a.family]
    ft = fam["finetune"]
    assistant = ft["assistant"]
    arch = arch_of(json.loads((models / a.family / "config.json").read_text()))
    (ids, positions, targets), set_path, n_rows = first_batch(models, a.family, a.set, fam)
    row = np.asarray(start_row(models, a.family), np.float32)
    print(f"batch: {set_path} ({n_rows} rows), recipe seed {ft['recipe']['seed']}, first {ids.shape[0]} examples: "
          f"input_ids {list(ids.shape)}, {len(targets)} labelled positions; start row of {a.family} "
          f"(assistant id {assistant})")

    # the weights: int8 tables, float32 scales and norms (what loss_sum reads), and route B's float32 dequantization
    model = onnx.load(str(models / fam["path"]))
    names = weight_names(model)
    inits = {i.name: i for i in model.graph.initializer}
    V = arch["vocab"]

    def raw(role):
        x = numpy_helper.to_array(inits[names[role]])
        return np.array(x[:V] if role.startswith("embed") else x)   # a writable copy

    w_raw = {r: raw(r) for r in roles(arch) if r in names}
    deq = {"embed": w_raw["embed_q"].astype(np.float32) * w_raw["embed_s"]}
    for i in range(arch["layers"]):
        for proj in ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"):
            k = f"{i}.{proj}"
            deq[k] = w_raw[k + "_q"].astype(np.float32) * w_raw[k + "_s"]   # [in, out]: x @ W
        for n in ("input_layernorm", "post_attention_layernorm"):
            deq[f"{i}.{n}"] = w_raw.get(f"{i}.{n}", np.ones(arch["hidden"], np.float32))
    deq["norm"] = w_raw.get("norm", np.ones(arch["hidden"], np.float32))

    with tempfile.TemporaryDirectory(prefix="route_js_") as tmp:
        wdir, fdir = Path(tmp) / "weights", Path(tmp) / "feeds"
        wdir.mkdir()
        fdir.mkdir()
        index = {"arch": arch, "assistant": assistant, "tensors": {}}
        for k, x in deq.items():
            f = k.replace("/", "_") + ".bin"
            np.ascontiguousarray(x, dtype="<f4").tofile(wdir / f)
            index["tensors"][k] = [f, list(x.shape)]
        (wdir / "index.json").write_text(json.dumps(index))
        fidx = {}
        for k, x, dt in (("row", row, "float32"), ("input_ids", ids, "int64"), ("positions", positions, "int64"),
                         ("targets", targets, "int64")):
            np.ascontiguousarray(x, dtype=np.dtype(dt).newbyteorder("<")).tofile(fdir / f"{k}.bin")
            fidx[k] = [f"{k}.bin", dt, list(x.shape)]
        (fdir / "index.json").write_text(json.dumps(fidx))
        deq_bytes = sum((wdir / f).stat().st_size for f, _ in index["tensors"].values())
        # one Node process at a time
        ra = node(["node", "--input-type=module", "-e", ROUTE_A, str(ORT), str(models), ft["graph"]["path"],
                   ft["graph"]["weights"], str(fdir), str(REPS)], "route A (onnxruntime-web)")
        rb = node(["node", str(JS), str(wdir), str(fdir), "--reps", str(REPS)] + (["--full"] if a.full else [])
                  + (["--ikj"] if a.ikj else []), "route B (route_js_backward.mjs)")

    # torch autograd on the same batch and weights
    rt = torch.from_numpy(row.copy()).requires_grad_()
    w = {r: torch.from_numpy(x) for r, x in w_raw.items()}
    loss = loss_sum(rt, torch.from_numpy(ids), torch.from_numpy(positions), torch.from_numpy(targets), w, arch,
                    assistant)
    (g,) = torch.autograd.grad(loss, rt)
    g = g.numpy().astype(np.float64)
    lt = loss.item()

    def errs(r):
        gj = np.asarray(r["grad_sum"], np.float64)
        return float(np.linalg.norm(gj - g) / np.linalg.norm(g)), abs(r["loss_sum"] - lt) / abs(lt)

    graph_bytes = (models / ft["graph"]["path"]).stat().st_size
    js_bytes = JS.stat().st_size
    rows = [("A onnxruntime-web, " + Path(ft["graph"]["path"]).name, ra,
             f"{graph_bytes:,} (.grad.onnx; weights: {ft['graph']['weights']}, already loaded)"),
            ("B plain JS, " + JS.name + (" --full" if a.full else "") + (" --ikj" if a.ikj else ""), rb,
             f"{js_bytes + deq_bytes:,} ({js_bytes:,} .mjs + {deq_bytes:,} float32 weights)")]
    print(f"torch loss_sum {lt:.6f}; route A session create {ra['sessionMs']:.0f} ms; route B ran {rb['tokens']} of "
          f"{rb['full_tokens']} tokens")
    head = ("route", "ms/step (median)", "vs A", "grad rel L2 err", "loss rel err", "browser downloads (bytes)")
    table = []
    ok = True
    for name, r, dl in rows:
        ge, le = errs(r)
        ok &= ge < 1e-4
        table.append((name, f"{r['median_ms']:.1f}", f"{r['median_ms'] / ra['median_ms']:.2f}x", f"{ge:.2e}",
                      f"{le:.2e}", dl))
    wd = [max(len(x[i]) for x in [head, *table]) for i in range(len(head))]
    for line in [head, tuple("-" * n for n in wd), *table]:
        print(" | ".join(c.ljust(n) for c, n in zip(line, wd)).rstrip())
    print(f"timed runs (ms): A [{', '.join(f'{m:.0f}' for m in ra['ms'])}], "
          f"B [{', '.join(f'{m:.0f}' for m in rb['ms'])}]; 1 warm-up each")
    print(f"route B's float32 weights are the int8 family file ({fam['path']}) dequantized: a browser could also "
          f"build them from the file it already loads, downloading only the .mjs ({js_bytes:,} bytes)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
