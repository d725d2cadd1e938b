// One Web Worker per loaded model: the onnxruntime-web runtime (WASM, one thread), an InferenceSession on the
// model bytes the page hands over (demo.js fetched them, checked their sha256 and keeps them in Cache Storage),
// and a KV-cache generation loop that sends tokens back.
//
// Messages in:  {type:"init", compile:true}                    compile the runtime .wasm here and send it back
//               {type:"init", module}                          a runtime compiled by another worker (or null)
//               {type:"load", variant, entry, model, tokenizer, tokenizerConfig, cached}   bytes (Uint8Array)
//               {type:"generate", id, question, context, temperature, topP, maxNewTokens, seed}
//               {type:"stop", id}
// Messages out: {type:"runtime", module}                       answer to init with compile:true (null: failed)
//               {type:"ready", variant, loadMs, cached, vocab, context, phases, timeOrigin}
//               {type:"start", id, promptTokens, maxNewTokens, truncated}
//               {type:"token", id, token, text, n, tps}
//               {type:"done", id, ids, text, reason, promptTokens, truncated, seed, ms, firstTokenMs, tps}
//               {type:"error", id?, phase, message}
import * as ort from "../vendor/onnxruntime-web/ort.wasm.bundle.min.mjs";
import { Tokenizer } from "../vendor/tokenizers/tokenizers.min.mjs";
import { buildPrompt } from "./chat.js";
import { Mulberry32, sampleToken } from "./sampler.js";
import { fixByteLevel } from "./tokenizer.js";

const WASM_URL = new URL("../vendor/onnxruntime-web/ort-wasm-simd-threaded.wasm", import.meta.url);
const MIN_NEW_TOKENS = 16; // room kept for the answer when a prompt is truncated
// y = x + x (65 bytes of ONNX): a first session that makes the runtime build its kernel registry and warm its
// code while the page is still reading the model files, off the critical path of the real session.
const TINY_MODEL = Uint8Array.from(atob("CAgSADo1Cg4KAXgKAXgSAXkiA0FkZBIBZ1oPCgF4EgoKCAgBEgQKAggBYg8KAXkSCgoICAESBAoCCAFCBAoAEBE="),
  (c) => c.charCodeAt(0));

let model = null; // {session, tokenizer, arch, eos:Set, pastNames, variant}
let loading = null;
let startRuntime; // called once, by the page's "init" message (which may come after "load")
const runtime = new Promise((resolve) => { startRuntime = (msg) => resolve(initRuntime(msg)); });
runtime.catch(() => {}); // reported by the load that awaits it
const queue = [];
let current = null; // the generation running now: {id, stop}
// Where the load time goes, for tests/bench/bench_demo.py: ms since the worker was created (…At) or durations.
const phases = { scriptAt: Math.round(performance.now()) }; // a worker's time origin is its creation
const at = () => Math.round(performance.now());

const post = (msg) => self.postMessage(msg);
const since = (t) => Math.round((performance.now() - t) * 10) / 10;

// ---------------------------------------------------------------------------------- runtime
/** onnxruntime-web 1.30 compiles its .wasm itself (instantiateStreaming) and takes no compiled module. One
 * compile per page is enough: the first worker compiles it (streaming, off the main thread; the browser's code
 * cache makes a warm compile cheap) and the page hands the WebAssembly.Module to the other workers, which then
 * share its machine code, including what the engine optimises while either one runs. onnxruntime-web is given
 * an 8-byte placeholder as `wasmBinary` and its one WebAssembly.instantiate() call on it is answered with the
 * shared module; without a module it fetches and compiles the .wasm as usual. */
function useCompiledRuntime(module) {
  const placeholder = new ArrayBuffer(8);
  const instantiate = WebAssembly.instantiate;
  WebAssembly.instantiate = function (source, imports) {
    if (source && source.buffer === placeholder) {
      phases.sharedRuntime = true;
      return instantiate(module, imports).then((instance) => ({ module, instance }));
    }
    return instantiate.apply(this, arguments);
  };
  ort.env.wasm.wasmBinary = placeholder;
}

async function compileRuntime() {
  const t = performance.now();
  let module = null;
  try {
    module = await WebAssembly.compileStreaming(fetch(WASM_URL, { credentials: "same-origin" }));
  } catch {
    try { // a server without the application/wasm type: no streaming, same module
      const res = await fetch(WASM_URL, { credentials: "same-origin" });
      if (res.ok) module = await WebAssembly.compile(await res.arrayBuffer());
    } catch { /* the runtime then fails in its own words, in ort's init below */ }
  }
  phases.compile = since(t);
  post({ type: "runtime", module });
  return module;
}

async function initRuntime({ compile, module }) {
  phases.initAt = at();
  if (typeof WebAssembly !== "object") throw new Error("This browser has no WebAssembly, so the model cannot run here.");
  if (compile) module = await compileRuntime();
  if (compile || !(module instanceof WebAssembly.Module)) warmLeft = WARM_STEPS;
  ort.env.wasm.numThreads = 1; // threads need cross-origin isolation and did not help these models
  ort.env.wasm.proxy = false;
  ort.env.logLevel = "error";
  if (module instanceof WebAssembly.Module) useCompiledRuntime(module);
  else ort.env.wasm.wasmPaths = { wasm: WASM_URL.href };
  const t = performance.now();
  // The tiny session starts the runtime while the model's bytes are still on their way. When they are already
  // here (a warm cache), the model's own session starts it instead: the tiny one would only delay it.
  if (!loading) {
    const tiny = await ort.InferenceSession.create(TINY_MODEL, { executionProviders: ["wasm"] });
    await tiny.release();
    phases.runtime = since(t);
  }
}

// ---------------------------------------------------------------------------------- loading
async function load({ variant, entry, model: modelBytes, tokenizer: tokJson, tokenizerConfig: tokCfg, cached }) {
  const t0 = performance.now();
  phases.loadAt = at();
  const dec = new TextDecoder();
  const tokenizer = fixByteLevel(new Tokenizer(JSON.parse(dec.decode(tokJson)), JSON.parse(dec.decode(tokCfg))));
  phases.tokenizer = since(t0);
  await runtime;
  const t = performance.now();
  // "basic" (constant folding, redundancy elimination) as export/generate.py's Python reference: in WASM the
  // extra fusions of "all" made the session slower to create and not faster to run (tests/bench/bench_demo.py)
  const session = await ort.InferenceSession.create(modelBytes, {
    executionProviders: ["wasm"],
    graphOptimizationLevel: "basic",
  });
  phases.session = since(t);
  const arch = entry.arch;
  const pastNames = [];
  for (let i = 0; i < arch.layers; i++) pastNames.push(`past_key_values.${i}.key`, `past_key_values.${i}.value`);
  for (const n of ["input_ids", "attention_mask", ...pastNames]) {
    if (!session.inputNames.includes(n)) throw new Error(`model has no input ${n}: not the format of FORMATS.md`);
  }
  model = {
    session, tokenizer, arch, variant, pastNames,
    hasPositions: session.inputNames.includes("position_ids"),
    eos: new Set(entry.eos_token_ids || [0, 1]),
  };
  phases.readyAt = at();
  post({
    type: "ready", variant, loadMs: performance.now() - t0, cached, vocab: arch.vocab, context: arch.context,
    phases, timeOrigin: performance.timeOrigin,
  });
  // The session's one-off allocations happen on its first run: a throwaway one, right after "ready" (a question
  // asked at once waits for it: pump() awaits `warming`), then the idle warm-up below.
  warming = forward([0], emptyPast(), 0)
    .then((step) => { for (const x of Object.values(step.past)) x.dispose?.(); }, () => {})
    .finally(() => {
      warming = null;
      pump(); // a question already waiting, else the warm-up
    });
}

function emptyPast() {
  const { kv_heads: h, head_dim: d } = model.arch;
  const past = {};
  for (const n of model.pastNames) past[n] = new ort.Tensor("float32", new Float32Array(0), [1, h, 0, d]);
  return past;
}

/** One decoder step over `ids` after `pastLen` cached positions: {logits of the last position, past}. */
async function forward(ids, past, pastLen) {
  const n = ids.length;
  const feeds = { ...past };
  feeds.input_ids = new ort.Tensor("int64", BigInt64Array.from(ids, BigInt), [1, n]);
  feeds.attention_mask = new ort.Tensor("int64", new BigInt64Array(pastLen + n).fill(1n), [1, pastLen + n]);
  if (model.hasPositions) {
    const pos = new BigInt64Array(n);
    for (let i = 0; i < n; i++) pos[i] = BigInt(pastLen + i);
    feeds.position_ids = new ort.Tensor("int64", pos, [1, n]);
  }
  const out = await model.session.run(feeds);
  const logits = out.logits;
  const v = logits.dims[2];
  const last = logits.data.slice((n - 1) * v, n * v);
  const next = {};
  for (const name of model.pastNames) next[name] = out[name.replace("past_key_values", "present")];
  for (const t of Object.values(past)) t.dispose?.();
  logits.dispose?.();
  return { logits: last, past: next };
}

// ---------------------------------------------------------------------------------- prompting
const encode = (s) => model.tokenizer.encode(s).ids;

/** Token ids of the prompt, cut to fit the context window with room for an answer. */
function promptIds(question, context, maxNew) {
  const window = model.arch.context;
  const room = Math.min(maxNew, MIN_NEW_TOKENS);
  let ctx = context || [];
  let ids = encode(buildPrompt(question, ctx));
  if (ids.length + room <= window) return { ids, truncated: null };
  const original = ids.length;
  const qIds = encode(question);
  let keep = Math.max(1, qIds.length - (ids.length + room - window));
  let q = question;
  for (;;) {
    q = model.tokenizer.decode(qIds.slice(0, keep)).replace(/\uFFFD+$/, "").replace(/^ /, "");
    ids = encode(buildPrompt(q, ctx));
    if (ids.length + room <= window) break;
    if (keep > 8) keep = Math.max(8, keep - Math.max(1, ids.length + room - window));
    else if (ctx.length) ctx = ctx.slice(1); // the examples go before the question is cut further
    else if (keep > 1) keep -= 1;
    else break;
  }
  return {
    ids,
    truncated: { originalTokens: original, promptTokens: ids.length, question: q, droppedExamples: (context || []).length - ctx.length },
  };
}

// ---------------------------------------------------------------------------------- generating
// The answer's text as export/generate.py's decode() gives it: Python's str.strip() (its whitespace
// set, which is not JavaScript's trim()).
const PY_WS = "[\\t-\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]";
const PY_LEAD = new RegExp(`^${PY_WS}+`, "u");
const PY_STRIP = new RegExp(`^${PY_WS}+|${PY_WS}+$`, "gu");
const answerText = (ids) => model.tokenizer.decode(ids, { skip_special_tokens: true }).replace(PY_STRIP, "");

// Yield to the event loop (so a "stop" message can arrive) without setTimeout's 4 ms clamp.
const channel = new MessageChannel();
const pending = [];
channel.port1.onmessage = () => pending.shift()?.();
const yieldNow = () => new Promise((r) => { pending.push(r); channel.port2.postMessage(0); });

async function generate(req) {
  const t0 = performance.now();
  const temperature = Number(req.temperature);
  const topP = Number(req.topP);
  const seed = Number(req.seed) >>> 0;
  const { ids: prompt, truncated } = promptIds(req.question, req.context, req.maxNewTokens);
  const maxNew = Math.max(0, Math.min(req.maxNewTokens, model.arch.context - prompt.length));
  post({ type: "start", id: req.id, promptTokens: prompt.length, maxNewTokens: maxNew, truncated });
  const rng = new Mulberry32(seed);
  const out = [];
  let text = "";
  let reason = "length";
  let firstTokenMs = null;
  let tFirst = 0;
  let step = await forward(prompt, emptyPast(), 0);
  let pastLen = prompt.length;
  while (out.length < maxNew) {
    const tok = sampleToken(step.logits, temperature, topP, rng);
    if (model.eos.has(tok)) {
      reason = "eos";
      break;
    }
    out.push(tok);
    const now = performance.now();
    if (firstTokenMs === null) {
      firstTokenMs = now - t0;
      tFirst = now;
    }
    // Decode the whole answer and send what is new; hold back an incomplete UTF-8 sequence.
    const full = model.tokenizer.decode(out, { skip_special_tokens: true }).replace(PY_LEAD, "");
    if (!full.endsWith("\uFFFD") && full.length >= text.length && full.startsWith(text)) {
      const delta = full.slice(text.length);
      text = full;
      const tps = out.length > 1 ? ((out.length - 1) * 1000) / (now - tFirst) : null;
      post({ type: "token", id: req.id, token: tok, text: delta, n: out.length, tps });
    }
    await yieldNow();
    if (current.stop) {
      reason = "stop";
      break;
    }
    if (out.length >= maxNew) break;
    step = await forward([tok], step.past, pastLen);
    pastLen += 1;
  }
  for (const t of Object.values(step.past)) t.dispose?.();
  const full = answerText(out);
  if (full.startsWith(text) && full !== text) {
    post({ type: "token", id: req.id, token: null, text: full.slice(text.length), n: out.length, tps: null });
  }
  const ms = performance.now() - t0;
  post({
    type: "done", id: req.id, ids: out, text: full, reason, promptTokens: prompt.length, truncated, seed,
    ms, firstTokenMs, tps: out.length > 1 ? ((out.length - 1) * 1000) / (performance.now() - tFirst) : null,
  });
}

async function pump() {
  if (current || !queue.length) {
    if (!current && model) warmUp();
    return;
  }
  const req = queue.shift();
  current = { id: req.id, stop: false };
  try {
    if (loading) await loading;
    if (warming) await warming; // it stops before its next step: a request is waiting
    if (!model) throw new Error("model not loaded");
    await generate(req);
  } catch (e) {
    post({ type: "error", id: req.id, phase: "generate", message: String(e?.message || e) });
  } finally {
    current = null;
    pump();
  }
}

// While the reader is typing: decoder steps on a throwaway context, so that the JavaScript engine optimises the
// runtime's code. Browsers start WebAssembly on a quick baseline compiler and optimise only the functions that
// have run often; a step takes 3-4x longer before that (measured: ~3 ms, then <1 ms). The optimised code belongs
// to the compiled module, which the workers share: only the worker that compiled it warms it up (every worker
// when each compiled its own). At most WARM_STEPS steps, in the idle time after "ready" and between answers; a
// question interrupts it after one step.
const WARM_STEPS = 256;
let warmLeft = 0; // set by initRuntime
let warming = null;

function warmUp() {
  if (warming || warmLeft <= 0 || !model) return;
  warming = (async () => {
    let past = emptyPast();
    let len = 0;
    try {
      while (warmLeft > 0 && !current && !queue.length) {
        // a 16-token prompt (the prefill path), then single steps up to 48 positions: cheap steps, the same code
        const ids = len ? [len] : Array.from({ length: 16 }, (_, i) => (i * 97 + 3) % model.arch.vocab);
        const step = await forward(ids, past, len);
        past = step.past;
        len += ids.length;
        warmLeft -= 1;
        if (len >= 48) {
          for (const t of Object.values(past)) t.dispose?.();
          past = emptyPast();
          len = 0;
        }
        await yieldNow();
      }
    } catch {
      warmLeft = 0; // not worth an error: the answers will say if the model fails
    } finally {
      for (const t of Object.values(past)) t.dispose?.();
      warming = null;
    }
  })();
}

self.onmessage = (ev) => {
  const msg = ev.data || {};
  if (msg.type === "init") {
    startRuntime?.(msg);
    startRuntime = null;
  } else if (msg.type === "load") {
    if (loading) return;
    loading = load(msg).catch((e) => {
      post({ type: "error", phase: "load", message: String(e?.message || e) });
    });
  } else if (msg.type === "generate") {
    queue.push(msg);
    pump();
  } else if (msg.type === "stop") {
    if (current && (msg.id == null || current.id === msg.id)) current.stop = true;
    const i = queue.findIndex((r) => r.id === msg.id);
    if (i >= 0) {
      const [r] = queue.splice(i, 1);
      post({ type: "done", id: r.id, ids: [], text: "", reason: "stop", promptTokens: 0, truncated: null, seed: r.seed });
    }
  }
};
