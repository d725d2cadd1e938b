// One Web Worker per loaded model: fetch (with progress) → sha256 check against manifest.json →
// Cache Storage → ort.InferenceSession (WASM, one thread) → KV-cache generation loop → tokens back.
//
// Messages in:  {type:"load", variant, modelsUrl, entry}           entry = manifest.variants[variant]
//               {type:"generate", id, question, context, temperature, topP, maxNewTokens, seed}
//               {type:"stop", id}
// Messages out: {type:"progress", file, loaded, total, cached}
//               {type:"ready", variant, loadMs, cached, vocab, context}
//               {type:"start", id, promptTokens, maxNewTokens, truncated}
//               {type:"token", id, token, text, n, tps}
//               {type:"done", id, ids, text, reason, promptTokens, truncated, seed, ms, firstTokenMs, tps}
//               {type:"error", id?, phase, message}
import * as ort from "../vendor/onnxruntime-web/ort.wasm.bundle.min.mjs";
import { Tokenizer } from "../vendor/tokenizers/tokenizers.min.mjs";
import { buildPrompt } from "./chat.js";
import { Mulberry32, sampleToken } from "./sampler.js";
import { sha256Hex } from "./sha256.js";
import { fixByteLevel } from "./tokenizer.js";

const CACHE_NAME = "em-demo-models-v1";
const WASM_URL = new URL("../vendor/onnxruntime-web/ort-wasm-simd-threaded.wasm", import.meta.url);
const MIN_NEW_TOKENS = 16; // room kept for the answer when a prompt is truncated

let model = null; // {session, tokenizer, arch, eos:Set, pastNames, variant}
let loading = null;
const queue = [];
let current = null; // the generation running now: {id, stop}

const post = (msg) => self.postMessage(msg);

// ---------------------------------------------------------------------------------- fetching
async function openCache() {
  try {
    return self.caches ? await self.caches.open(CACHE_NAME) : null;
  } catch {
    return null; // opaque origins, private modes: no Cache Storage, still works (no offline)
  }
}

/** Bytes of one file: from Cache Storage when its sha256 still matches, else from the network
 * with progress; refused (throws) when the sha256 does not match the manifest. */
async function fetchFile(url, { name, bytes, sha256 }, cache) {
  if (cache) {
    const hit = await cache.match(url);
    if (hit) {
      const buf = new Uint8Array(await hit.arrayBuffer());
      if (!sha256 || (await sha256Hex(buf)) === sha256) {
        post({ type: "progress", file: name, loaded: buf.length, total: buf.length, cached: true });
        return { buf, cached: true };
      }
      await cache.delete(url); // stale: the pipeline published a new model
    }
  }
  const res = await fetch(url, { cache: "no-cache" });
  if (!res.ok) throw new Error(`${name}: HTTP ${res.status} ${res.statusText || ""}`.trim());
  const total = bytes || Number(res.headers.get("Content-Length")) || 0;
  let buf;
  if (res.body && res.body.getReader) {
    const reader = res.body.getReader();
    const chunks = [];
    let loaded = 0;
    let lastPost = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      loaded += value.length;
      const now = performance.now();
      if (now - lastPost > 50) {
        lastPost = now;
        post({ type: "progress", file: name, loaded, total, cached: false });
      }
    }
    buf = new Uint8Array(loaded);
    let off = 0;
    for (const c of chunks) {
      buf.set(c, off);
      off += c.length;
    }
  } else {
    buf = new Uint8Array(await res.arrayBuffer());
  }
  post({ type: "progress", file: name, loaded: buf.length, total: total || buf.length, cached: false });
  if (sha256) {
    const got = await sha256Hex(buf);
    if (got !== sha256) {
      throw new Error(`${name} failed its integrity check (sha256 ${got.slice(0, 12)}… ≠ manifest ` +
        `${sha256.slice(0, 12)}…): the file was refused.`);
    }
  }
  if (cache) {
    try {
      await cache.put(url, new Response(buf, { headers: { "Content-Type": "application/octet-stream" } }));
    } catch {
      /* quota: fine, just not offline */
    }
  }
  return { buf, cached: false };
}

// ---------------------------------------------------------------------------------- loading
async function load({ variant, modelsUrl, entry }) {
  const t0 = performance.now();
  if (typeof WebAssembly !== "object") throw new Error("This browser has no WebAssembly, so the model cannot run here.");
  const base = new URL(`${variant}/`, modelsUrl);
  const byPath = new Map(entry.files.map((f) => [f.path, f]));
  const need = (path) => {
    const f = byPath.get(path);
    if (!f) throw new Error(`manifest.json lists no ${path} for ${variant}`);
    return { name: path, bytes: f.bytes, sha256: f.sha256 };
  };
  const cache = await openCache();
  // The runtime .wasm is left to onnxruntime-web: it compiles it while streaming and the browser keeps the
  // compiled code with its HTTP cache, which makes a warm start several times faster than passing bytes.
  const [modelFile, tokJson, tokCfg] = await Promise.all([
    fetchFile(new URL(entry.model, base).href, need(entry.model), cache),
    fetchFile(new URL("tokenizer.json", base).href, need("tokenizer.json"), cache),
    fetchFile(new URL("tokenizer_config.json", base).href, need("tokenizer_config.json"), cache),
  ]);
  const dec = new TextDecoder();
  const tokenizer = fixByteLevel(new Tokenizer(JSON.parse(dec.decode(tokJson.buf)), JSON.parse(dec.decode(tokCfg.buf))));

  ort.env.wasm.numThreads = 1; // threads need cross-origin isolation and did not help these models
  ort.env.wasm.proxy = false;
  ort.env.wasm.wasmPaths = { wasm: WASM_URL.href };
  ort.env.logLevel = "error";
  const session = await ort.InferenceSession.create(modelFile.buf, {
    executionProviders: ["wasm"],
    graphOptimizationLevel: "all",
  });
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
  await forward([0], emptyPast(), 0); // warm-up: first real token without one-off allocation costs
  post({
    type: "ready", variant, loadMs: performance.now() - t0,
    cached: modelFile.cached && tokJson.cached, vocab: arch.vocab, context: arch.context,
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
  if (current || !queue.length) return;
  const req = queue.shift();
  current = { id: req.id, stop: false };
  try {
    if (loading) await loading;
    if (!model) throw new Error("model not loaded");
    await generate(req);
  } catch (e) {
    post({ type: "error", id: req.id, phase: "generate", message: String(e?.message || e) });
  } finally {
    current = null;
    pump();
  }
}

self.onmessage = (ev) => {
  const msg = ev.data || {};
  if (msg.type === "load") {
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
