// The browser demo's runtime for Python: onnxruntime-web's WebAssembly build, the very files the site serves
// (docs/assets/vendor/onnxruntime-web/), run by Node with the session options of demos/js/worker.js (WASM, one
// thread, graph optimization "basic") and the worker's feeds. export/generate.py's WasmLM drives it, one decoder
// step per request, so that Python computes the logits the browser computes, bit for bit: native onnxruntime
// (MLAS, with FMA on x86) rounds differently from the WebAssembly kernels (export/FORMATS.md, "Reproducing").
//
//     node export/wasm_lm.mjs MODEL.onnx KV_HEADS HEAD_DIM     (JSON lines on stdin → JSON lines on stdout)
//
// Out, first:  {ready: true, inputs: [names]} or {error}
// In:          {step: {past: id|null, batch, ids: [[id, …] per row], past_len, all}, free: [id, …]}
//                → {past: id, dims: [b, n, vocab], logits: base64 float32}  (the last position of each row: n = 1,
//                  unless `all`); the cache `past` is used up (as the worker's), the new one is `past`
//              {select: {past: id, rows: [i, …]}, free: [id, …]}  → {past: id}  (those rows of the cache, in
//                order)
//              {free: [id, …]}  → {}
// Any failure answers {error: message}.
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import * as ort from "../docs/assets/vendor/onnxruntime-web/ort.wasm.bundle.min.mjs";
import { emptyPast, keepRows, nextPast, stepFeeds } from "../demos/js/decoder.js";

const VENDOR = new URL("../docs/assets/vendor/onnxruntime-web/", import.meta.url);
const send = (msg) => process.stdout.write(JSON.stringify(msg) + "\n");

ort.env.wasm.numThreads = 1;
ort.env.wasm.proxy = false;
ort.env.logLevel = "error";
ort.env.wasm.wasmBinary = readFileSync(new URL("ort-wasm-simd-threaded.wasm", VENDOR));

let session;
try {
  session = await ort.InferenceSession.create(readFileSync(process.argv[2]), {
    executionProviders: ["wasm"],
    graphOptimizationLevel: "basic",
  });
} catch (e) {
  send({ error: String(e?.message || e) });
  process.exit(1);
}
const pastNames = session.inputNames.filter((n) => n.startsWith("past_key_values."));
const hasPositions = session.inputNames.includes("position_ids");
const [kvHeads, headDim] = [Number(process.argv[3]), Number(process.argv[4])];
const states = new Map(); // id → {name: Tensor}: the caches Python holds
let nextId = 1;

function take(id) {
  const past = states.get(id);
  if (!past) throw new Error(`no cache ${id}`);
  states.delete(id);
  return past;
}

function keep(past) {
  const id = nextId++;
  states.set(id, past);
  return id;
}

/** worker.js forward(): the same feeds (demos/js/decoder.js). */
async function step({ past: id, batch, ids: rows, past_len: pastLen, all }) {
  const b = rows.length;
  const n = rows[0].length;
  const past = id == null ? emptyPast(ort, pastNames, kvHeads, headDim, b) : take(id);
  if (batch != null && batch !== b) throw new Error(`batch ${batch} but ${b} rows`);
  const out = await session.run(stepFeeds(ort, rows, past, pastLen, hasPositions));
  const v = out.logits.dims[2];
  let logits;
  if (all) logits = out.logits.data;
  else {
    logits = new Float32Array(b * v);
    for (let i = 0; i < b; i++) logits.set(out.logits.data.subarray(((i + 1) * n - 1) * v, (i + 1) * n * v), i * v);
  }
  return {
    past: keep(nextPast(out, pastNames)),
    dims: [b, all ? n : 1, v],
    logits: Buffer.from(logits.buffer, logits.byteOffset, logits.byteLength).toString("base64"),
  };
}

/** worker.js keepRows() (demos/js/decoder.js). */
function select({ past: id, rows }) {
  return { past: keep(keepRows(ort, take(id), rows)) };
}

send({ ready: true, inputs: session.inputNames });
const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of lines) {
  if (!line.trim()) continue;
  try {
    const msg = JSON.parse(line);
    for (const id of msg.free || []) states.delete(id);
    if (msg.step) send(await step(msg.step));
    else if (msg.select) send(select(msg.select));
    else send({});
  } catch (e) {
    send({ error: String(e?.message || e) });
  }
}
