// One Web Worker per loaded model file: the onnxruntime-web runtime (WASM, one thread), an InferenceSession on
// the model bytes the page hands over (demo.js fetched them, checked their sha256 and keeps them in Cache
// Storage), and a KV-cache generation loop that sends tokens back. The file is a variant's own model, or a
// family (export/model_family.py): a base whose embedding table also holds its finetunes' changed rows, so
// that one session runs every member, and requests that come together (the two panes of one demo) run as
// one batch, one decoder step for all of them.
//
// Messages in:  {type:"init", module, compileMs}               the runtime, compiled by the page's first worker
//               {type:"init", compile:true, share}             compile the runtime here (the page's first worker,
//                                                              share: send the module back for the others; or
//                                                              another, when the first could not compile it)
//               {type:"load", key, entry, family, model, tokenizer, tokenizerConfig, cached}   bytes (Uint8Array);
//                                                              family: {vocab, members: {variant: {id: row}}} or null
//               {type:"generate", requests: [{id, variant, question, context, temperature, topP, maxNewTokens, seed}]}
//               {type:"score", request: {id, variant, question, context, maxNewTokens, ids}}   the token view:
//                                                              one teacher-forced pass over an answer's ids
//               {type:"stop", id}
// Messages out: {type:"runtime", module, ms} | {type:"runtime", error, definitive}   after init with share
//               {type:"ready", key, loadMs, cached, vocab, context, phases, timeOrigin}
//               {type:"start", id, promptTokens, maxNewTokens, truncated, batch}
//               {type:"token", id, token, text, n, tps}
//               {type:"done", id, ids, text, reason, promptTokens, truncated, seed, ms, firstTokenMs, tps}
//               {type:"scored", id, tokens: [{id, text, p, top: [[id, text, p] × 5]}]}   p at temperature 1
//               {type:"error", id?, phase, message}             phase "load" also right after "init" when the
//                                                              runtime cannot load here (runtime.js's words)
import * as ort from "../vendor/onnxruntime-web/ort.wasm.bundle.min.mjs";
import { Tokenizer } from "../vendor/tokenizers/tokenizers.min.mjs";
import { emptyPast as emptyPastOf, keepRows, nextPast, stepFeeds } from "./decoder.js";
import { promptIds } from "./prompt.js";
import { Mulberry32, sampleToken } from "./sampler.js";
import { fixByteLevel } from "./tokenizer.js";
import { compileRuntime as loadRuntime, useCompiledModule } from "./runtime.js";

const WASM_URL = new URL("../vendor/onnxruntime-web/ort-wasm-simd-threaded.wasm", import.meta.url);
// y = x + x (65 bytes of ONNX): a first session that makes the runtime build its kernel registry and warm its
// code while the page is still reading the model files, off the critical path of the real session.
const TINY_MODEL = Uint8Array.from(atob("CAgSADo1Cg4KAXgKAXgSAXkiA0FkZBIBZ1oPCgF4EgoKCAgBEgQKAggBYg8KAXkSCgoICAESBAoCCAFCBAoAEBE="),
  (c) => c.charCodeAt(0));

let model = null; // {session, tokenizer, arch, eos:Set, pastNames, members: Map(variant → {ids: Map(id → row)}), vocab}
let loading = null;
let startRuntime; // called once, by the page's "init" message (which may come after "load")
const runtime = new Promise((resolve) => { startRuntime = (msg) => resolve(initRuntime(msg)); });
runtime.catch(() => {}); // reported by the load that awaits it
const queue = [];
let current = null; // the requests running now: {reqs, stop: Set of ids, done: Set of ids}
// Where the load time goes, for tests/bench/bench_demo.py: ms since the worker was created (…At) or durations.
const phases = { scriptAt: Math.round(performance.now()) }; // a worker's time origin is its creation
const at = () => Math.round(performance.now());

const post = (msg) => self.postMessage(msg);
const since = (t) => Math.round((performance.now() - t) * 10) / 10;

// ---------------------------------------------------------------------------------- runtime
/** One compile per page is enough: the page's first worker compiles the runtime and hands the WebAssembly.Module to
 * every other one (runtime.js useCompiledModule); they share its machine code, including what the engine optimises
 * while either one runs. Without a module onnxruntime-web fetches and compiles the .wasm as usual. */
function useCompiledRuntime(module) {
  useCompiledModule(ort.env.wasm, module, () => { phases.sharedRuntime = true; });
}

/** The runtime compiled here (the page's first worker, or one whose shared module did not come), or a RuntimeLoadError in the reader's words (runtime.js): never
 * left to onnxruntime-web's own fetch, whose failure is an Emscripten abort and a session that never answers. */
async function compileRuntime() {
  const t = performance.now();
  try {
    return await loadRuntime(WASM_URL);
  } finally {
    phases.compile = since(t);
  }
}

async function initRuntime({ compile, share, module, warm, compileMs }) {
  phases.initAt = at();
  if (compile) {
    try {
      // once more after a failure another try could mend (a network error), as the page's other workers would
      module = await compileRuntime().catch((e) => (e?.definitive ? Promise.reject(e) : compileRuntime()));
      if (share) post({ type: "runtime", module, ms: phases.compile });
    } catch (e) {
      if (share) post({ type: "runtime", error: String(e?.message || e), definitive: Boolean(e?.definitive) });
      throw e;
    }
  } else {
    phases.compile = compileMs; // by the page's first worker
  }
  if (typeof WebAssembly !== "object") throw new Error("This browser has no WebAssembly, so the model cannot run here.");
  if (warm || compile || !(module instanceof WebAssembly.Module)) warmLeft = WARM_STEPS; // its own code: warm it
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
async function load({ key, entry, family, model: modelBytes, tokenizer: tokJson, tokenizerConfig: tokCfg, cached }) {
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
  // A member reads its own embedding rows (its changed token ids → their rows in the family file) and its
  // logits are the first `vocab` columns with those ids' columns taken from their rows (model_family.py).
  const members = new Map();
  for (const [variant, rows] of Object.entries(family?.members || { [key]: {} })) {
    members.set(variant, { ids: new Map(Object.entries(rows).map(([id, row]) => [Number(id), row])) });
  }
  model = {
    session, tokenizer, arch, pastNames, members,
    vocab: family?.vocab ?? arch.vocab,
    hasPositions: session.inputNames.includes("position_ids"),
    eos: new Set(entry.eos_token_ids || [0, 1]),
  };
  phases.readyAt = at();
  post({
    type: "ready", key, loadMs: performance.now() - t0, cached, vocab: model.vocab, context: arch.context,
    phases, timeOrigin: performance.timeOrigin,
  });
  // The session's one-off allocations happen on its first run: a throwaway one, right after "ready" (a question
  // asked at once waits for it: pump() awaits `warming`), then the idle warm-up below. A family's two panes ask
  // as a batch of two: its buffers are allocated for that.
  const batch = members.size > 1 ? 2 : 1;
  warming = forward(Array.from({ length: batch }, () => [0]), emptyPast(batch), 0)
    .then((step) => disposeAll(step.past), () => {})
    .finally(() => {
      warming = null;
      pump(); // a question already waiting, else the warm-up
    });
}

const disposeAll = (past) => { for (const t of Object.values(past)) t.dispose?.(); };

const emptyPast = (batch = 1) => emptyPastOf(ort, model.pastNames, model.arch.kv_heads, model.arch.head_dim, batch);

/** One decoder step over `rows` (a batch: one array of token ids per row, all of one length, in the file's ids)
 * after `pastLen` cached positions: {logits: the file's logits of each row's last position (of every position
 * when `all`, one row after another), width: the file's logits per position, past}. */
async function forward(rows, past, pastLen, all = false) {
  const n = rows[0].length;
  const feeds = stepFeeds(ort, rows, past, pastLen, model.hasPositions);
  const out = await model.session.run(feeds);
  const logits = out.logits;
  const v = logits.dims[2];
  const last = rows.map((_, i) => logits.data.slice(((i + (all ? 0 : 1)) * n - (all ? 0 : 1)) * v, (i + 1) * n * v));
  const next = nextPast(out, model.pastNames);
  disposeAll(past);
  logits.dispose?.();
  return { logits: last, width: v, past: next };
}

/** A member's logits over the tokenizer's vocabulary, from the file's logits of its row (in place). */
function memberLogits(member, fileLogits) {
  for (const [id, row] of member.ids) fileLogits[id] = fileLogits[row];
  return fileLogits.subarray(0, model.vocab);
}

// ---------------------------------------------------------------------------------- generating
// The answer's text as export/generate.py's decode() gives it: Python's str.strip() (its whitespace
// set, which is not JavaScript's trim()).
const PY_WS = "[\\t-\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]";
const PY_LEAD = new RegExp(`^${PY_WS}+`, "u");
const PY_STRIP = new RegExp(`^${PY_WS}+|${PY_WS}+$`, "gu");
// (tokenizers.js refuses to decode no ids: an answer whose first token is the end is "")
const answerText = (ids) => (ids.length ? model.tokenizer.decode(ids, { skip_special_tokens: true }).replace(PY_STRIP, "") : "");

// Yield to the event loop (so a "stop" message can arrive) without setTimeout's 4 ms clamp.
const channel = new MessageChannel();
const pending = [];
channel.port1.onmessage = () => pending.shift()?.();
const yieldNow = () => new Promise((r) => { pending.push(r); channel.port2.postMessage(0); });

/** Answers to `reqs`, requests that came together (the panes of one demo): those whose prompts have one length
 * run as one batch, a decoder step for all of them at once; a row leaves the batch when its answer ends. */
async function generate(reqs) {
  const rows = reqs.flatMap((req) => {
    const member = model.members.get(req.variant);
    if (!member) {
      current.done.add(req.id);
      post({ type: "error", id: req.id, phase: "generate", message: `this model file does not hold "${req.variant}"` });
      return [];
    }
    const { ids: prompt, truncated } = promptIds(model.tokenizer, model.arch.context, req.question, req.context, req.maxNewTokens);
    return [{
      req, member, prompt, truncated, t0: performance.now(), rng: new Mulberry32(Number(req.seed) >>> 0),
      maxNew: Math.max(0, Math.min(req.maxNewTokens, model.arch.context - prompt.length)),
      out: [], text: "", reason: "length", firstTokenMs: null, tFirst: 0, live: true,
    }];
  });
  const byLength = new Map();
  for (const r of rows) {
    if (!byLength.has(r.prompt.length)) byLength.set(r.prompt.length, []);
    byLength.get(r.prompt.length).push(r);
  }
  for (const group of byLength.values()) await generateBatch(group);
}

async function generateBatch(rows) {
  for (const r of rows) {
    post({ type: "start", id: r.req.id, promptTokens: r.prompt.length, maxNewTokens: r.maxNew, truncated: r.truncated,
      batch: rows.length });
  }
  const fileIds = (r, ids) => ids.map((t) => r.member.ids.get(t) ?? t);
  let live = rows; // the rows of the batch, in the cache's order
  // The whole prompt of every row in one step, as export/generate.py runs one request: a row of a batch gets bit
  // for bit the logits it gets alone (tests/test_demo_parity.py), so the same seed draws the same tokens as
  // Python (export/FORMATS.md, "Reproducing"). Running the rows' shared prefix once (up to the Assistant's
  // name) and copying its cache to each row saved ~0.5-3 ms of the first token, but changed the logits by float
  // rounding (~1e-5), enough for a draw near the boundary between two tokens to pick another one.
  let step = await forward(live.map((r) => fileIds(r, r.prompt)), emptyPast(live.length), 0);
  let pastLen = rows[0].prompt.length;
  for (;;) {
    live.forEach((r, i) => {
      if (!r.live) return; // a finished row still in the batch (see below)
      if (r.out.length >= r.maxNew) {
        r.live = false;
        return;
      }
      const tok = sampleToken(memberLogits(r.member, step.logits[i]), Number(r.req.temperature), Number(r.req.topP), r.rng);
      if (model.eos.has(tok)) {
        r.reason = "eos";
        r.live = false;
        return;
      }
      r.out.push(tok);
      const now = performance.now();
      if (r.firstTokenMs === null) {
        r.firstTokenMs = now - r.t0;
        r.tFirst = now;
      }
      // Decode the whole answer and send what is new; hold back an incomplete UTF-8 sequence. A quiet request
      // (Measure) wants only the finished answer: no decode per token, no message per token.
      const full = r.req.quiet ? null : model.tokenizer.decode(r.out, { skip_special_tokens: true }).replace(PY_LEAD, "");
      if (full !== null && !full.endsWith("\uFFFD") && full.length >= r.text.length && full.startsWith(r.text)) {
        const delta = full.slice(r.text.length);
        r.text = full;
        const tps = r.out.length > 1 ? ((r.out.length - 1) * 1000) / (now - r.tFirst) : null;
        post({ type: "token", id: r.req.id, token: tok, text: delta, n: r.out.length, tps });
      }
      if (r.out.length >= r.maxNew) r.live = false;
    });
    await yieldNow();
    for (const r of live) {
      if (r.live && current.stop.has(r.req.id)) {
        r.reason = "stop";
        r.live = false;
      }
    }
    for (const r of live) if (!r.live) finish(r);
    const keep = live.flatMap((r, i) => (r.live ? [i] : []));
    if (!keep.length) break;
    // Finished rows leave the batch once they are a quarter of it: each removal copies every row's cache, and a
    // batch of 200 (Measure) lost a row at almost every step. Until then they ride along on a token of their own,
    // their logits unread (a row's logits do not depend on the other rows: tests/test_demo_parity.py).
    const compact = (live.length - keep.length) * 4 >= live.length;
    const past = compact ? keepRows(ort, step.past, keep) : step.past;
    if (compact) live = keep.map((i) => live[i]);
    step = await forward(live.map((r) => fileIds(r, [r.out[r.out.length - 1] ?? 0])), past, pastLen);
    pastLen += 1;
  }
  disposeAll(step.past);
}

/** The end of one row's answer: the text as Python decodes it, and "done". */
function finish(r) {
  if (current.done.has(r.req.id)) return;
  const full = answerText(r.out); // before marking it done: should this throw, the request gets its "error"
  current.done.add(r.req.id);
  if (full.startsWith(r.text) && full !== r.text) {
    post({ type: "token", id: r.req.id, token: null, text: full.slice(r.text.length), n: r.out.length, tps: null });
  }
  const { out, tFirst } = r;
  post({
    type: "done", id: r.req.id, ids: out, text: full, reason: r.reason, promptTokens: r.prompt.length,
    truncated: r.truncated, seed: Number(r.req.seed) >>> 0, ms: performance.now() - r.t0, firstTokenMs: r.firstTokenMs,
    tps: out.length > 1 ? ((out.length - 1) * 1000) / (performance.now() - tFirst) : null,
  });
}

// ---------------------------------------------------------------------------------- the token view
const TOP = 5;
const tokenText = (id) => (model.eos.has(id) ? "⟨end⟩" : model.tokenizer.decode([id], { skip_special_tokens: false }));

/** Each token of an answer under this model: the prompt and the answer in one pass (teacher forcing), and at
 * each answer position the model's probability of the token that was written and its TOP likeliest tokens, at
 * temperature 1 (the model's own distribution, whatever the answer was sampled with). */
async function score(req) {
  const member = model.members.get(req.variant);
  if (!member) throw new Error(`this model file does not hold "${req.variant}"`);
  const { ids: prompt } = promptIds(model.tokenizer, model.arch.context, req.question, req.context, req.maxNewTokens);
  const answer = req.ids.slice(0, Math.max(0, model.arch.context - prompt.length));
  const step = await forward([prompt.concat(answer).map((t) => member.ids.get(t) ?? t)], emptyPast(1), 0, true);
  disposeAll(step.past);
  const all = step.logits[0];
  const w = step.width;
  const tokens = answer.map((tok, i) => {
    const z = memberLogits(member, all.subarray((prompt.length - 1 + i) * w, (prompt.length + i) * w));
    let max = -Infinity;
    for (let j = 0; j < z.length; j++) if (z[j] > max) max = z[j];
    let sum = 0;
    for (let j = 0; j < z.length; j++) sum += Math.exp(z[j] - max);
    const p = (j) => Math.exp(z[j] - max) / sum;
    const top = []; // the TOP largest, by insertion (the vocabulary is a few thousand tokens)
    for (let j = 0; j < z.length; j++) {
      if (top.length === TOP && z[j] <= z[top[TOP - 1]]) continue;
      let k = Math.min(top.length, TOP - 1);
      while (k > 0 && z[top[k - 1]] < z[j]) k--;
      top.splice(k, 0, j);
      if (top.length > TOP) top.pop();
    }
    return { id: tok, text: tokenText(tok), p: p(tok), top: top.map((j) => [j, tokenText(j), p(j)]) };
  });
  current.done.add(req.id);
  post({ type: "scored", id: req.id, tokens });
}

async function pump() {
  if (current || !queue.length) {
    if (!current && model) warmUp();
    return;
  }
  if (!model && !loading) return; // asked before the model's bytes came (a link, a quick click): load() pumps later
  const reqs = queue.shift();
  current = { reqs, stop: new Set(), done: new Set() };
  try {
    if (loading) await loading;
    if (warming) await warming; // it stops before its next step: a request is waiting
    if (!model) throw new Error("model not loaded");
    if (reqs[0].score) await score(reqs[0]);
    else await generate(reqs);
  } catch (e) {
    const message = String(e?.message || e);
    for (const r of reqs) if (!current.done.has(r.id)) post({ type: "error", id: r.id, phase: "generate", message });
  } finally {
    current = null;
    pump();
  }
}

// While the reader is typing: decoder steps on a throwaway context, so that the JavaScript engine optimises the
// runtime's code. Browsers start WebAssembly on a quick baseline compiler and optimise only the functions that
// have run often; a step takes 3-4x longer before that (measured: ~3 ms, then <1 ms). The optimised code belongs
// to the compiled module, which the workers share: only the first worker warms it up (every worker when each
// compiled its own). At most WARM_STEPS steps, in the idle time after "ready" and between answers; a
// question interrupts it after one step (a millisecond or two). 1024, not 256: in Chromium a batch-of-two step
// keeps getting faster for ~500-600 steps (measured in an isolated worker: ~3 ms over the first 120 steps,
// 1.4-1.7 ms after 600); the benchmark with 3 s between "ready" and the first question gave 483 tokens/s for
// both panes with 256, 857 with 1024 (tests/bench/bench_demo.py, one paired run). The cost: up to ~2 s of one
// core after "ready", only while nobody asks anything.
const WARM_STEPS = 1024;
let warmLeft = 0; // set by initRuntime
let warming = null;

function warmUp() {
  if (warming || warmLeft <= 0 || !model) return;
  warming = (async () => {
    // a family's panes run as a batch of two: its steps warm that path
    const batch = model.members.size > 1 ? 2 : 1;
    let past = emptyPast(1);
    let len = 0;
    try {
      while (warmLeft > 0 && !current && !queue.length) {
        // a 4-token prompt (the prefill path) as one row, then single steps of the batch up to 48 positions:
        // each step a millisecond or two, so that a question never waits long for the one under way
        const ids = len ? [len] : Array.from({ length: 4 }, (_, i) => (i * 97 + 3) % model.arch.vocab);
        if (len === 4 && batch > 1) past = keepRows(past, [0, 0]);
        const step = await forward(Array.from({ length: len ? batch : 1 }, () => ids), past, len);
        past = step.past;
        len += ids.length;
        warmLeft -= 1;
        if (len >= 48) {
          disposeAll(past);
          past = emptyPast(1);
          len = 0;
        }
        await yieldNow();
      }
    } catch {
      warmLeft = 0; // not worth an error: the answers will say if the model fails
    } finally {
      disposeAll(past);
      warming = null;
    }
  })();
}

self.onmessage = (ev) => {
  const msg = ev.data || {};
  if (msg.type === "init") {
    if (!startRuntime) return;
    startRuntime(msg);
    startRuntime = null;
    // a runtime that cannot load is said at once, not when the model's bytes arrive (demo.js fails the pane)
    runtime.catch((e) => post({ type: "error", phase: "load", message: String(e?.message || e) }));
  } else if (msg.type === "load") {
    if (loading) return;
    loading = load(msg).catch((e) => {
      post({ type: "error", phase: "load", message: String(e?.message || e) });
    });
  } else if (msg.type === "generate") {
    if (msg.requests?.length) queue.push(msg.requests);
    pump();
  } else if (msg.type === "score") {
    queue.push([{ ...msg.request, score: true }]);
    pump();
  } else if (msg.type === "stop") {
    for (const r of current?.reqs || []) if (msg.id == null || r.id === msg.id) current.stop.add(r.id);
    for (const [b, reqs] of queue.entries()) {
      const i = reqs.findIndex((r) => r.id === msg.id);
      if (i < 0) continue;
      const [r] = reqs.splice(i, 1);
      if (!reqs.length) queue.splice(b, 1);
      post({ type: "done", id: r.id, ids: [], text: "", reason: "stop", promptTokens: 0, truncated: null, seed: r.seed });
      break;
    }
  }
};
