// A worker of the in-browser finetune (finetune.js): the family's gradient graph (export/web_finetune.py) in
// onnxruntime-web, its weights the family file's own bytes (ONNX external data), and the training set tokenized
// here. The page runs the recipe's loop and gives each worker a share of every batch; with two workers on two
// cores a step takes about half the time.
//
// Messages in:  {type:"init", module, graph, weights, weightsName, tokenizer, tokenizerConfig, rows, context, pad}
//                 module: the runtime's WebAssembly.Module (models.js) or null (compiled here); rows: [[prompt,
//                 answer], …] in the chat format
//               {type:"run", id, indices, row}   a share of a batch: example indices, the row (Float32Array)
// Messages out: {type:"ready", lengths, unlabelled, ms}   each example's token count; how many have no answer token
//               {type:"ran", id, lossSum, gradSum, n, ms}
//               {type:"error", message}
import * as ort from "../vendor/onnxruntime-web/ort.wasm.bundle.min.mjs";
import { Tokenizer } from "../vendor/tokenizers/tokenizers.min.mjs";
import { makeExamples, runShard } from "./finetune.js";
import { compileRuntime, useCompiledModule } from "./runtime.js";
import { fixByteLevel } from "./tokenizer.js";

const WASM_URL = new URL("../vendor/onnxruntime-web/ort-wasm-simd-threaded.wasm", import.meta.url);
let session = null;
let examples = null;
let pad = 0;

async function init(msg) {
  const t = performance.now();
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.proxy = false;
  ort.env.logLevel = "error";
  useCompiledModule(ort.env.wasm, msg.module instanceof WebAssembly.Module ? msg.module : await compileRuntime(WASM_URL));
  const dec = new TextDecoder();
  const tok = fixByteLevel(new Tokenizer(JSON.parse(dec.decode(msg.tokenizer)), JSON.parse(dec.decode(msg.tokenizerConfig))));
  examples = makeExamples((s) => tok.encode(s).ids, msg.rows, msg.context);
  pad = msg.pad;
  session = await ort.InferenceSession.create(msg.graph, {
    executionProviders: ["wasm"],
    graphOptimizationLevel: "basic", // folds the weights' dequantization and transposes into constants
    externalData: [{ path: msg.weightsName, data: msg.weights }],
  });
  // an example cut by the window before its answer has no token to learn from: the page refuses the set
  const unlabelled = examples.filter(([, lab]) => !lab.slice(1).some((x) => x !== -100)).length;
  self.postMessage({ type: "ready", lengths: examples.map(([ids]) => ids.length), unlabelled, ms: performance.now() - t });
}

async function run({ id, indices, row }) {
  const t = performance.now();
  const r = await runShard(ort, session, examples, indices, row, pad);
  self.postMessage({ type: "ran", id, ...r, ms: performance.now() - t }, [r.gradSum.buffer]);
}

self.onmessage = (ev) => {
  const msg = ev.data || {};
  const job = msg.type === "init" ? init(msg) : msg.type === "run" ? run(msg) : null;
  job?.catch((e) => self.postMessage({ type: "error", id: msg.id, message: String(e?.message || e) }));
};
