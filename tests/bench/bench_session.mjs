// Benchmark (not a test): onnxruntime-web (WASM, one thread, graph optimization "basic", as the demo's
// worker) in Node on one or more ONNX decoder files of the published format: session creation after the
// runtime has started (median of 5; the first is what a reader's worker pays) and the steady time of one
// KV-cache decoder step at 25 cached positions (median of the last 6 batches of 200 steps, files
// alternated so that they share the machine's noise).
//
//   node tests/bench/bench_session.mjs [--runtime PATH/ort.wasm.min.mjs] FILE.onnx [FILE.onnx ...]
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const args = process.argv.slice(2);
let runtime = path.join(root, "node_modules/onnxruntime-web/dist/ort.wasm.min.mjs");
if (args[0] === "--runtime") { runtime = args[1]; args.splice(0, 2); }
if (!args.length) { console.error("usage: node tests/bench/bench_session.mjs [--runtime ort.wasm.min.mjs] FILE.onnx ..."); process.exit(2); }
const ort = await import(pathToFileURL(path.resolve(runtime)).href);
ort.env.wasm.numThreads = 1;
const TINY = Uint8Array.from(atob("CAgSADo1Cg4KAXgKAXgSAXkiA0FkZBIBZ1oPCgF4EgoKCAgBEgQKAggBYg8KAXkSCgoICAESBAoCCAFCBAoAEBE="), (c) => c.charCodeAt(0));
await (await ort.InferenceSession.create(TINY)).release();
const opts = { executionProviders: ["wasm"], graphOptimizationLevel: "basic" };

/** Inputs of one decoder step at `past` cached positions, shaped by the config.json of `file`'s model folder. */
function feeds(file, session, past) {
  const meta = JSON.parse(fs.readFileSync(path.join(path.dirname(path.dirname(path.resolve(file))), "config.json"), "utf8"));
  const h = meta.num_key_value_heads || meta.num_attention_heads;
  const d = meta.head_dim || meta.hidden_size / meta.num_attention_heads;
  const f = {
    input_ids: new ort.Tensor("int64", BigInt64Array.from([5n]), [1, 1]),
    attention_mask: new ort.Tensor("int64", new BigInt64Array(past + 1).fill(1n), [1, past + 1]),
  };
  if (session.inputNames.includes("position_ids")) f.position_ids = new ort.Tensor("int64", BigInt64Array.from([BigInt(past)]), [1, 1]);
  for (let i = 0; i < meta.num_hidden_layers; i++) {
    for (const k of ["key", "value"]) {
      f[`past_key_values.${i}.${k}`] = new ort.Tensor("float32", new Float32Array(h * past * d).map((_, j) => Math.sin(j) / 2), [1, h, past, d]);
    }
  }
  return f;
}

const med = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
const res = new Map(args.map((f) => [f, { create: [], step: [] }]));
const sessions = new Map();
for (let r = 0; r < 5; r++) {
  for (const f of args) {
    const bytes = fs.readFileSync(f);
    const t = performance.now();
    const s = await ort.InferenceSession.create(bytes, opts);
    res.get(f).create.push(performance.now() - t);
    if (sessions.has(f)) await s.release();
    else sessions.set(f, s);
  }
}
const fd = new Map(args.map((f) => [f, feeds(f, sessions.get(f), 25)]));
for (let r = 0; r < 12; r++) {
  for (const f of args) {
    const s = sessions.get(f);
    const t = performance.now();
    for (let i = 0; i < 200; i++) await s.run(fd.get(f));
    res.get(f).step.push((performance.now() - t) / 200);
  }
}
console.log(`onnxruntime-web ${ort.env.versions?.web ?? "?"} (${path.relative(root, path.resolve(runtime))})`);
for (const f of args) {
  const r = res.get(f);
  console.log(`${f}: session create first ${r.create[0].toFixed(0)} ms, median ${med(r.create).toFixed(0)} ms; ` +
    `decoder step ${med(r.step.slice(6)).toFixed(3)} ms`);
}
