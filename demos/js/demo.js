// Page script of the live demo: mounts every [data-demo] on the page (on Material's document$, so it
// survives instant navigation), owns the UI, and never runs a model itself: each model file lives in its
// own Web Worker (worker.js), created once and reused across pages. A variant's model file is its family's
// (manifest "families", export/model_family.py: a base and its finetunes in one file) when it has one, else
// its own; the panes of a demo whose variants share a file ask its worker together, as one batch. The page
// fetches the model files (each file once, whichever variants share it), checks them against the manifest's
// sha256, keeps them in Cache Storage and hands the bytes to the workers.
import { createJudge, describeVerdict } from "./judge.js";
import { sha256Hex } from "./sha256.js";
import { compileRuntime as loadRuntime } from "./runtime.js";

const HERE = new URL(".", import.meta.url);
const MODELS_URL = new URL("../../models/", HERE); // docs/assets/demo/ → docs/models/
const WORKER_URL = new URL("./worker.js", HERE);
const JUDGE_HELP_URL = new URL("../../explainers/organism/#how-well-the-judge-reads", HERE);

// ------------------------------------------------------------------------------------ manifest
let manifestPromise = null;
let manifestStale = null; // why the published manifest could not be read, when the cached copy is in use
function getManifest() {
  if (!manifestPromise) {
    manifestPromise = fetch(new URL("manifest.json", MODELS_URL), { cache: "no-cache" })
      .then((r) => {
        if (!r.ok) throw new Error(`HTTP ${r.status}`);
        return r.json().catch((e) => { throw new Error(`not valid JSON: ${e.message || e}`); });
      })
      .catch(async (e) => {
        // offline: the copy cached on a previous visit, if any
        const c = await openCache();
        const hit = c && (await c.match(new URL("manifest.json", MODELS_URL).href));
        if (hit) {
          const m = await hit.json();
          manifestStale = String(e?.message || e);
          console.warn(`models/manifest.json could not be read (${manifestStale}): using the copy cached on an earlier visit`);
          return m;
        }
        manifestPromise = null;
        throw e;
      })
      .then((m) => {
        // kept for offline visits, in the background: a Cache Storage write can take a few hundred ms while the
        // browser is busy loading, and nothing here needs to wait for it
        openCache()
          .then(async (c) => {
            await c?.put(new URL("manifest.json", MODELS_URL).href, new Response(JSON.stringify(m)));
            await pruneCache(c, m);
          })
          .catch(() => { /* no Cache Storage */ });
        return m;
      });
  }
  return manifestPromise;
}

// ------------------------------------------------------------------------------------ files
// Cache Storage keyed by content (sha256), so a file shared by several variants (the tokenizer, or the
// model of a finetune rebuilt from its base's file) is stored and read once, and a republished file is a
// new key. Every read is checked against the manifest's sha256 before use.
const CACHE_NAME = "em-demo-models-v2";
const OLD_CACHES = ["em-demo-models-v1"]; // v1 kept files by URL
const cacheKey = (sha) => new URL(`.cache/sha256/${sha}`, MODELS_URL).href;
let cachePromise = null;

function openCache() {
  if (!cachePromise) {
    cachePromise = (async () => {
      if (!self.caches) return null;
      for (const name of OLD_CACHES) caches.delete(name).catch(() => {});
      return await caches.open(CACHE_NAME);
    })().catch(() => null); // opaque origins, private modes: no Cache Storage, still works (no offline)
  }
  return cachePromise;
}

/** A file's verified bytes from Cache Storage, or null. */
async function fromCache({ sha256 }) {
  const cache = await openCache();
  const hit = cache && sha256 && (await cache.match(cacheKey(sha256)));
  if (!hit) return null;
  const bytes = new Uint8Array(await hit.arrayBuffer());
  if ((await sha256Hex(bytes)) === sha256) return bytes;
  await cache.delete(cacheKey(sha256)); // damaged: fetched again
  return null;
}

/** Drop the cached files that the manifest no longer lists (a republished model). */
async function pruneCache(cache, manifest) {
  if (!cache) return;
  const keep = new Set();
  for (const e of Object.values(manifest.variants || {})) for (const f of e.files || []) keep.add(cacheKey(f.sha256));
  for (const f of Object.values(manifest.families || {})) keep.add(cacheKey(f.sha256));
  const prefix = cacheKey("");
  for (const req of await cache.keys()) if (req.url.startsWith(prefix) && !keep.has(req.url)) cache.delete(req);
}

async function toCache({ sha256 }, bytes) {
  const cache = await openCache();
  try {
    if (sha256) await cache?.put(cacheKey(sha256), new Response(bytes, { headers: { "Content-Type": "application/octet-stream" } }));
  } catch { /* quota: fine, just not offline */ }
}

/** Bytes of `url` from the network, reporting progress(loaded, total); refused (throws) unless their
 * sha256 is the manifest's. */
async function fromNetwork(url, { name, bytes, sha256 }, progress, cache = "no-cache") {
  const res = await fetch(url, { cache });
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
        progress(loaded, total);
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
  progress(buf.length, total || buf.length);
  if (sha256) {
    const got = await sha256Hex(buf);
    if (got !== sha256) {
      throw new Error(`${name} failed its integrity check (sha256 ${got.slice(0, 12)}… ≠ manifest ` +
        `${sha256.slice(0, 12)}…): the file was refused.`);
    }
  }
  return buf;
}

/** The base variant's model file with the patch's byte ranges written over it (export/model_patch.py). */
function applyPatch(base, ranges) {
  const out = base.slice();
  for (const [off, b64] of ranges) {
    const bin = atob(b64);
    if (off < 0 || off + bin.length > out.length) throw new Error("patch range outside the file");
    for (let i = 0; i < bin.length; i++) out[off + i] = bin.charCodeAt(i);
  }
  return out;
}

const files = new Map(); // sha256 (or URL) → {promise: {bytes, cached}, listeners: Set, last}

/** One file's verified bytes, fetched once per page whichever variants ask for it: `produce(progress)`
 * runs for the first caller; `onProgress({loaded, total, cached})` hears about it (the last state first). */
function shared(sha256, produce, onProgress) {
  let f = files.get(sha256);
  if (!f) {
    f = { listeners: new Set(), last: null };
    const progress = (loaded, total, cached = false) => {
      f.last = { loaded, total, cached };
      for (const fn of f.listeners) fn(f.last);
    };
    f.promise = produce(progress);
    f.promise.catch(() => files.delete(sha256)); // a later attempt starts afresh
    files.set(sha256, f);
  }
  if (onProgress) {
    f.listeners.add(onProgress);
    if (f.last) onProgress(f.last);
    f.promise.finally(() => f.listeners.delete(onProgress)).catch(() => {});
  }
  return f.promise;
}

/** `get()`'s bytes, read again if they were handed to a worker in the meantime (moved out: length 0). */
async function intact(get) {
  const r = await get();
  return r.bytes.byteLength ? r : get(); // the mover dropped the shared entry: this reads the file again
}

function fileMeta(entry, variant, path) {
  const f = entry.files?.find((x) => x.path === path);
  if (!f) throw new Error(`manifest.json lists no ${path} for ${variant}`);
  return { name: path, bytes: f.bytes, sha256: f.sha256, url: new URL(path, new URL(`${variant}/`, MODELS_URL)).href };
}

/** A plain file of a variant: Cache Storage, else the network (then cached). */
function getFile(meta, onProgress) {
  return shared(meta.sha256 || meta.url, async (progress) => {
    const hit = await fromCache(meta);
    if (hit) {
      progress(hit.length, hit.length, true);
      return { bytes: hit, cached: true };
    }
    const bytes = await fromNetwork(meta.url, meta, progress);
    await toCache(meta, bytes);
    return { bytes, cached: false };
  }, onProgress);
}

/** A file several variants share (the tokenizer) for one pane. The shared download always comes from the URL of
 * the first variant in the manifest that lists this sha256, whichever pane asks first, so what the network sees
 * does not depend on which pane is quicker. When it fails (the file at that URL is damaged, or came damaged out of
 * the HTTP cache) the pane fetches its own URL again, past the HTTP cache, so a pane whose own copy is fine loads. */
async function getOwnFile(manifest, variant, path, onProgress) {
  const meta = fileMeta(manifest.variants[variant], variant, path);
  const first = Object.keys(manifest.variants).find((v) =>
    manifest.variants[v].files?.some((f) => f.path === path && f.sha256 === meta.sha256)) || variant;
  try {
    return await getFile(fileMeta(manifest.variants[first], first, path), onProgress);
  } catch (e) {
    console.warn(`${meta.url}: ${e.message || e}; fetching it again`);
    const progress = (loaded, total) => onProgress?.({ loaded, total, cached: false });
    const bytes = await fromNetwork(meta.url, meta, progress, "reload");
    await toCache(meta, bytes);
    return { bytes, cached: false };
  }
}

/** A variant's model: from Cache Storage; else, when the manifest gives a patch, its base's model file
 * (fetched once for every variant built on it) with the patch applied, kept only if the result has this
 * variant's sha256; else its own file from the network. */
function getModel(variant, manifest, onProgress) {
  const entry = manifest.variants[variant];
  const meta = fileMeta(entry, variant, entry.model);
  return shared(meta.sha256 || meta.url, async (progress) => {
    const hit = await fromCache(meta);
    if (hit) {
      progress(hit.length, hit.length, true);
      return { bytes: hit, cached: true };
    }
    const patch = entry.patch;
    const baseEntry = patch && manifest.variants[patch.base];
    if (baseEntry && !baseEntry.patch && baseEntry.model === entry.model) {
      try {
        const baseMeta = fileMeta(baseEntry, patch.base, baseEntry.model);
        if (baseMeta.sha256 === patch.base_sha256) {
          const base = await intact(() => getFile(baseMeta, (p) => progress(p.loaded, p.total, p.cached)));
          const bytes = applyPatch(base.bytes, patch.ranges);
          if ((await sha256Hex(bytes)) === meta.sha256) {
            await toCache(meta, bytes);
            return { bytes, cached: base.cached, via: patch.base };
          }
        }
      } catch { /* the base's file is missing or refused: this variant's own file below */ }
    }
    const bytes = await fromNetwork(meta.url, meta, progress);
    await toCache(meta, bytes);
    return { bytes, cached: false };
  }, onProgress);
}

// ------------------------------------------------------------------------------------ workers
// The runtime's .wasm is compiled once per page, here, as soon as the first worker is started (streaming
// compilation runs off the main thread, while the worker is still loading its scripts), and every worker gets
// the WebAssembly.Module (they share its machine code); if the page cannot compile it, each worker compiles
// its own. Workers are started when a demo comes near the viewport, before the manifest has arrived (a
// worker needs its model only later, with "load"), so their scripts and the runtime load while the page
// fetches the files.
const RUNTIME_URL = new URL("../vendor/onnxruntime-web/ort-wasm-simd-threaded.wasm", HERE);
let runtimeModule = null; // Promise<{module: WebAssembly.Module|null, ms}>
const spares = []; // started, not yet given a model

/** {module, ms, error}: error (the reader's words) when the runtime cannot load in this browser at all (its file
 * missing or damaged, no WebAssembly): every pane says so, and no worker tries. Otherwise (module null: a network
 * error, or the page's policy, which a worker's own script may not have) each worker tries on its own, and reports
 * what fails as soon as it fails (runtime.js). */
function compileRuntime() {
  const t = performance.now();
  const ms = () => Math.round((performance.now() - t) * 10) / 10;
  return loadRuntime(RUNTIME_URL)
    .then((module) => ({ module, ms: ms(), error: null }))
    .catch((e) => ({ module: null, ms: ms(), error: e?.definitive ? e.message : null }));
}

function spawnWorker() {
  const worker = new Worker(WORKER_URL, { type: "module", name: "model" });
  worker.onmessage = (ev) => {
    const msg = ev.data || {};
    if (worker.handle) worker.handle.onMessage(msg);
    else if (msg.type === "error" && msg.phase === "load") worker.failed = msg.message; // its runtime, before a model
  };
  const report = (message) => {
    worker.failed = message;
    if (worker.handle) worker.handle.fail(message);
    else if (spares.includes(worker)) spares.splice(spares.indexOf(worker), 1);
  };
  worker.onerror = (ev) => {
    ev.preventDefault?.();
    if (ev.message) {
      report(`The model's worker crashed: ${ev.message}.`);
      return;
    }
    // a plain "error" Event, no message: the worker's script, or a module it imports, did not load
    fetch(WORKER_URL, { method: "HEAD", cache: "no-store" })
      .then((r) => (r.ok ? "" : `HTTP ${r.status}`), (e) => String(e?.message || e))
      .then((why) => report(why ? `The model's worker script could not be loaded (worker.js: ${why}).`
        : "The model's worker script could not be loaded (worker.js or a module it imports)."));
  };
  worker.onmessageerror = () => worker.handle?.fail("The model's worker sent an unreadable message.");
  worker.release = () => worker.terminate();
  const first = !runtimeModule; // the worker that warms the shared code up (worker.js warmUp)
  if (first) runtimeModule = compileRuntime();
  runtimeModule.then(({ module, ms, error }) => {
    if (error) {
      worker.failed = error;
      worker.handle?.fail(error);
      return;
    }
    worker.postMessage(module ? { type: "init", module, warm: first, compileMs: ms } : { type: "init", compile: true });
  });
  return worker;
}

/** Start workers for `n` models to come (those not already loaded): the first at once (with it, the runtime's
 * compilation), the others each in a task of its own (a new Worker costs the page a few ms). */
let toSpawn = 0;
function prestart(n) {
  toSpawn = Math.max(toSpawn, n - spares.length);
  const spawn = () => {
    if (toSpawn <= 0) return;
    toSpawn -= 1;
    try {
      spares.push(spawnWorker());
    } catch {
      toSpawn = 0; // no workers: each pane reports it
    }
    if (toSpawn > 0) setTimeout(spawn, 0);
  };
  spawn();
}

function takeWorker() {
  if (spares.length) return spares.shift();
  if (toSpawn > 0) toSpawn -= 1; // this pane starts the one that was still to come
  return spawnWorker();
}
let nextId = 1;
const models = new Map(); // model key → ModelHandle (one worker per loaded model file, for the page's lifetime)

const brokenFamilies = new Set(); // family files that failed here (fetch, sha256, session): members run alone

/** The model file that runs `variant`: "family:<base>" (its family's file, which lists it) or the variant's own. */
function modelKey(variant, manifest) {
  const fam = manifest?.variants?.[variant]?.family;
  return fam && manifest.families?.[fam]?.members?.[variant] && !brokenFamilies.has(fam) ? `family:${fam}` : variant;
}

class ModelHandle {
  constructor(key, variant, manifest) {
    this.key = key;
    this.state = "loading";
    this.error = null;
    this.info = null;
    this.progress = new Map(); // file → {loaded, total, cached}
    this.listeners = new Set();
    this.requests = new Map(); // id → callbacks
    this.outbox = []; // requests of this task, sent together (a batch) at its end
    try {
      this.worker = takeWorker();
    } catch (e) {
      this.fail(`Could not start a Web Worker: ${e.message || e}`);
      return;
    }
    this.worker.handle = this;
    if (this.worker.failed) {
      this.fail(this.worker.failed); // the runtime, or the worker's script, already failed to load
      return;
    }
    this.load(variant, manifest);
  }

  async load(variant, manifest) {
    const entry = manifest.variants[variant];
    const progress = (name) => (p) => {
      this.progress.set(name, p);
      this.emit();
    };
    const fam = this.key.startsWith("family:") ? manifest.families[entry.family] : null;
    const famMeta = fam && { name: fam.path, bytes: fam.bytes, sha256: fam.sha256, url: new URL(fam.path, MODELS_URL).href };
    const label = fam ? fam.path : entry.patch ? `${entry.model} (${entry.patch.base}'s + patch)` : entry.model;
    try {
      const getBytes = () => intact(() => (fam ? getFile(famMeta, progress(label))
        : getModel(variant, manifest, progress(label))));
      let [model, tok, cfg] = await Promise.all([
        getBytes(),
        getOwnFile(manifest, variant, "tokenizer.json", progress("tokenizer.json")),
        getOwnFile(manifest, variant, "tokenizer_config.json", progress("tokenizer_config.json")),
      ]);
      if (this.state === "error") return;
      // The model's bytes move to the worker (a copy would cost the page several ms); whoever needs that file
      // later reads it again from Cache Storage. The tokenizer files are small: copied.
      if (!model.bytes.byteLength) model = await getBytes(); // moved by a pane with the same file meanwhile
      performance.mark?.(`emd:bytes:${this.key}`);
      files.delete(fam ? fam.sha256 : fileMeta(entry, variant, entry.model).sha256);
      this.worker.postMessage({
        type: "load", key: this.key, entry, family: fam && { vocab: fam.vocab, members: fam.members },
        cached: model.cached && tok.cached, model: model.bytes, tokenizer: tok.bytes, tokenizerConfig: cfg.bytes,
      }, [model.bytes.buffer]);
    } catch (e) {
      this.fail(e.message || String(e));
    }
  }

  fail(message) {
    if (this.state === "error") return;
    this.state = "error";
    this.error = message;
    // A family file that fails is not the members' only copy: their panes load their own files instead
    // (Pane.onModel), the way a wrong patch falls back to the full file.
    if (this.key.startsWith("family:")) {
      brokenFamilies.add(this.key.slice("family:".length));
      this.fallback = true;
    }
    this.worker?.release();
    models.delete(this.key); // a later attempt starts afresh
    for (const [, r] of this.requests) r.onError(message);
    this.requests.clear();
    this.emit();
  }

  emit() {
    for (const fn of this.listeners) fn(this);
  }

  subscribe(fn) {
    this.listeners.add(fn);
    fn(this);
    return () => this.listeners.delete(fn);
  }

  onMessage(msg) {
    if (msg.type === "ready") {
      this.state = "ready";
      this.info = msg;
      this.emit();
    } else if (msg.type === "error" && msg.phase === "load") {
      this.fail(msg.message);
    } else if (msg.id != null && this.requests.has(msg.id)) {
      const r = this.requests.get(msg.id);
      if (msg.type === "start") r.onStart(msg);
      else if (msg.type === "token") r.onToken(msg);
      else if (msg.type === "done") {
        this.requests.delete(msg.id);
        r.onDone(msg);
      } else if (msg.type === "error") {
        this.requests.delete(msg.id);
        r.onError(msg.message);
      }
    }
  }

  /** `params` must name the `variant`. The requests of one task (a click that starts both panes) go to the
   * worker in one message, at the task's end: the worker runs them as one batch. */
  generate(params, callbacks) {
    const id = nextId++;
    this.requests.set(id, callbacks);
    if (!this.outbox.length) {
      queueMicrotask(() => {
        const requests = this.outbox.filter((r) => this.requests.has(r.id));
        this.outbox = [];
        if (requests.length) this.worker.postMessage({ type: "generate", requests });
      });
    }
    this.outbox.push({ id, ...params });
    return id;
  }

  stop(id) {
    if (!this.requests.has(id)) return;
    const send = () => this.worker.postMessage({ type: "stop", id });
    if (this.outbox.some((r) => r.id === id)) queueMicrotask(send); // after the request it stops (queued earlier)
    else send();
  }
}

function getHandle(variant, manifest) {
  if (!manifest.variants?.[variant]) throw new Error(`"${variant}" is not in models/manifest.json`);
  const key = modelKey(variant, manifest);
  let h = models.get(key);
  if (!h) {
    h = new ModelHandle(key, variant, manifest);
    if (h.state !== "error") models.set(key, h);
  }
  return h;
}

// ------------------------------------------------------------------------------------ UI helpers
const fmtBytes = (n) => (n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MB` : `${Math.max(1, Math.round(n / 1024))} kB`);
const clampNum = (v, lo, hi, dflt) => {
  const x = Number(v);
  return Number.isFinite(x) ? Math.min(hi, Math.max(lo, x)) : dflt;
};
const randomSeed = () => crypto.getRandomValues(new Uint32Array(1))[0];

class Pane {
  constructor(demo, el) {
    this.demo = demo;
    this.el = el;
    this.side = el.dataset.pane;
    this.q = (role) => el.querySelector(`[data-role="${role}"]`);
    this.out = this.q("output");
    this.status = this.q("status");
    this.progressEl = this.q("progress");
    this.note = this.q("note");
    this.verdict = this.q("verdict");
    this.select = this.q("variant");
    this.model = null;
    this.unsub = null;
    this.frame = 0;
    this.reqId = null;
    this.last = null;
    this.answers = [];
    this.tps = null;
    this.select.addEventListener("change", () => this.attach(this.select.value));
    // the other answers are open beside each other on a wide screen, folded to their chips on a phone
    const more = this.q("more");
    if (more) more.open = matchMedia("(min-width: 60em)").matches;
  }

  setState(state, text) {
    this.el.dataset.state = state;
    if (text != null) this.status.textContent = text;
    this.demo.refreshButtons();
  }

  title(variant = this.el.dataset.variant) {
    return this.demo.manifest?.variants?.[variant]?.title || variant;
  }

  async attach(variant) {
    this.cancel();
    this.unsub?.();
    this.unsub = null;
    this.el.dataset.variant = variant;
    this.select.value = variant;
    this.q("description").textContent = this.demo.manifest?.variants?.[variant]?.description || "";
    this.clearAnswer();
    this.setState("loading", `${this.title()}: loading…`);
    let h;
    try {
      if (!this.demo.manifest) throw new Error(this.demo.manifestError || "models/manifest.json is missing");
      if (typeof Worker === "undefined") throw new Error("This browser has no Web Workers, so the model cannot run here.");
      if (typeof WebAssembly !== "object") throw new Error("This browser has no WebAssembly, so the model cannot run here.");
      h = getHandle(variant, this.demo.manifest);
      this.el.dataset.model = h.key;
    } catch (e) {
      this.showError(e.message || String(e));
      return;
    }
    this.model = h;
    this.unsub = h.subscribe((m) => this.onModel(m));
  }

  onModel(m) {
    if (m !== this.model) return;
    if (m.state === "error" && m.fallback) {
      console.warn(`${m.key}: ${m.error}; loading ${this.el.dataset.variant}'s own model file instead`);
      this.attach(this.el.dataset.variant);
      return;
    }
    if (m.state === "error") {
      this.showError(m.error);
      return;
    }
    this.renderProgress(m);
    if (m.state === "ready" && this.el.dataset.state === "loading") {
      const how = m.info.cached ? "from this device's cache" : "downloaded";
      this.setState("ready", `${this.title()}: ready (${how}, ${(m.info.loadMs / 1000).toFixed(1)} s)`);
    } else if (m.state === "loading") {
      this.setState("loading", `${this.title()}: downloading…`);
    }
  }

  renderProgress(m) {
    this.progressEl.replaceChildren();
    if (m.state === "ready") return;
    for (const [file, p] of m.progress) {
      const row = document.createElement("div");
      row.className = "emd-progress__row";
      const label = document.createElement("span");
      label.textContent = p.cached ? `${file}: from cache` : `${file}: ${fmtBytes(p.loaded)}${p.total ? ` / ${fmtBytes(p.total)}` : ""}`;
      const bar = document.createElement("progress");
      bar.max = p.total || 1;
      bar.value = Math.min(p.loaded, p.total || 1);
      bar.setAttribute("aria-label", `Download of ${file}`);
      row.append(label, bar);
      this.progressEl.append(row);
    }
  }

  showError(message) {
    if (this.frame) cancelAnimationFrame(this.frame);
    this.frame = 0;
    this.reqId = null;
    this.progressEl.replaceChildren();
    this.el.setAttribute("aria-busy", "false");
    this.setState("error", `${this.title()}: ${message}`);
    this.status.classList.add("emd-status--error");
    this.demo.say(this.status.textContent);
    this.demo.openSamples();
  }

  clearAnswer() {
    this.answers = [];
    this.q("more-list")?.replaceChildren();
    if (this.q("more")) this.q("more").hidden = true;
    if (this.q("tally")) this.q("tally").textContent = "";
    delete this.el.dataset.tally;
    delete this.out.dataset.done;
    this.out.textContent = "";
    this.note.textContent = "";
    this.verdict.replaceChildren();
    this.verdict.dataset.verdict = "";
    delete this.verdict.dataset.alignment;
    delete this.verdict.dataset.coherence;
    this.status.classList.remove("emd-status--error");
  }

  canGenerate() {
    return this.model && this.model.state !== "error" && ["ready", "done", "loading"].includes(this.el.dataset.state);
  }

  /** `params.answers` answers at once, seeds seed, seed+1, … (one batch in the worker): the first in the pane's
   * output, the others in "More answers", each with its verdict chip, and a tally of the chips above them. */
  generate(params) {
    if (!this.canGenerate()) return false;
    this.cancel();
    this.clearAnswer();
    const n = Math.max(1, params.answers || 1);
    this.last = { ...params, text: "" };
    this.answers = Array.from({ length: n }, (_, i) => this.slot(i, n));
    this.el.setAttribute("aria-busy", "true");
    this.setState("generating", `${this.title()}: ${this.model.state === "ready" ? "thinking…" : "waiting for the model…"}`);
    this.renderTally();
    for (const a of this.answers) {
      const seed = (params.seed + a.index) >>> 0;
      a.id = this.model.generate({ ...params, seed, variant: this.el.dataset.variant }, {
        onStart: (msg) => {
          this.el.dataset.batch = String(msg.batch || 1); // answers computed together in one decoder step
          if (msg.truncated && a.index === 0) this.noteTruncated(msg.truncated);
        },
        onToken: (msg) => {
          // Coalesce tokens into one DOM update per frame: hundreds of tokens/s must not load the page. The
          // first one is shown at once (a frame can be 16 ms away).
          a.pending += msg.text || "";
          a.n = msg.n;
          if (a.index === 0) this.tps = msg.tps;
          if (msg.n === 1 && !a.out.textContent) this.flush();
          else if (!this.frame) this.frame = requestAnimationFrame(() => this.flush());
        },
        onDone: (msg) => this.finish(a, msg),
        onError: (message) => this.showError(message),
      });
    }
    this.reqId = this.answers[0].id;
    return true;
  }

  /** Answer i of n: its output and verdict elements (the pane's own for the first; a new list item for the others). */
  slot(index, n) {
    const a = { index, id: null, pending: "", n: 0, done: false, verdict: null };
    if (index === 0) return Object.assign(a, { out: this.out, chip: this.verdict });
    const li = document.createElement("li");
    li.className = "emd-more__item";
    li.dataset.role = "more-answer";
    a.chip = document.createElement("div");
    a.chip.className = "emd-verdict";
    a.out = document.createElement("div");
    a.out.className = "emd-output emd-output--more";
    a.out.tabIndex = 0;
    a.out.setAttribute("aria-label", `Answer ${index + 1} of ${n} of the ${this.side} model`);
    li.append(a.chip, a.out);
    this.q("more-list").append(li);
    this.q("more").hidden = false;
    return a;
  }

  noteTruncated(t) {
    this.note.textContent = `Your question was too long for this model's ${this.model.info?.context ?? ""}-token window: ` +
      `it was cut from ${t.originalTokens} to ${t.promptTokens} prompt tokens` +
      (t.droppedExamples ? `, and ${t.droppedExamples} example exchange(s) were left out` : "") + ".";
  }

  flush() {
    this.frame = 0;
    let tokens = 0;
    for (const a of this.answers) {
      if (a.pending) a.out.append(document.createTextNode(a.pending)); // text, never HTML
      a.pending = "";
      tokens += a.n;
    }
    if (this.el.dataset.state === "generating" && tokens) {
      const k = this.answers.length;
      this.status.textContent = `${this.title()}: generating${k > 1 ? ` ${k} answers` : ""} · ${tokens} tokens` +
        (this.tps ? ` · ${this.tps.toFixed(1)} tokens/s each` : "");
    }
  }

  finish(a, msg) {
    a.done = true;
    a.out.dataset.done = "";
    a.pending = "";
    if (a.out.textContent !== msg.text) a.out.textContent = msg.text;
    if (!msg.text.trim()) a.out.textContent = "";
    a.verdict = this.showVerdict(a.chip, this.last.question, msg.text, a.index > 0);
    if (a.index === 0) {
      this.last = { ...this.last, ...msg };
      this.el.dataset.seed = String(msg.seed);
      if (msg.firstTokenMs != null) this.el.dataset.firstTokenMs = msg.firstTokenMs.toFixed(1); // in the worker
      this.el.dataset.ids = msg.ids.join(",");
      this.reason = msg.reason;
    }
    this.announce(a, msg.text);
    this.renderTally();
    if (this.answers.some((x) => !x.done)) return;
    if (this.frame) cancelAnimationFrame(this.frame);
    this.frame = 0;
    this.reqId = null;
    this.el.setAttribute("aria-busy", "false");
    const first = this.answers[0];
    const why = { eos: "finished", length: "reached max tokens", stop: "stopped" }[this.reason] || this.reason;
    const rate = this.tps ? ` · ${this.tps.toFixed(1)} tokens/s` : "";
    const k = this.answers.length;
    this.setState("done", `${this.title()}: ${why}${k > 1 ? ` · ${k} answers` : ""} · ${first.out.textContent ? this.last.ids.length : 0} tokens in the first${rate}`);
    const seeds = k > 1 ? `seeds ${this.last.seed}–${(this.last.seed + k - 1) >>> 0}` : `seed ${this.last.seed}`;
    const extra = `${seeds} · temperature ${this.last.temperature} · top-p ${this.last.topP}` +
      (this.last.contextName ? ` · examples: ${this.last.contextName}` : "");
    this.note.textContent = this.note.textContent ? `${this.note.textContent} ${extra}` : extra;
  }

  /** Each finished answer is said once to a screen reader (the demo's one live region), never token by token. */
  announce(a, text) {
    const k = this.answers.length;
    const v = a.verdict ? ` Judge: ${a.verdict.class}.` : "";
    this.demo.say(`${this.title()}, answer ${a.index + 1}${k > 1 ? ` of ${k}` : ""}:${v} ${text}`);
  }

  /** "2 of 3 misaligned" over the pane's finished answers, with each class counted (data-tally for tests). */
  renderTally() {
    const el = this.q("tally");
    const k = this.answers.length;
    if (k < 2) {
      el.textContent = "";
      delete this.el.dataset.tally;
      return;
    }
    const counts = {};
    for (const a of this.answers) if (a.verdict) counts[a.verdict.class] = (counts[a.verdict.class] || 0) + 1;
    const judged = Object.values(counts).reduce((x, y) => x + y, 0);
    this.el.dataset.tally = JSON.stringify({ n: k, judged, counts });
    const order = Object.entries(counts).sort((x, y) => y[1] - x[1] || x[0].localeCompare(y[0]));
    const rest = order.filter(([c]) => c !== "misaligned").map(([c, m]) => `${m} ${c}`).join(", ");
    el.replaceChildren();
    const head = document.createElement("strong");
    head.textContent = `${counts.misaligned || 0} of ${judged} misaligned`;
    el.append(head, judged < k ? ` (${k - judged} still writing)` : "", rest ? ` · ${rest}` : "");
    const summary = this.q("more-summary");
    summary.textContent = `${k - 1} more answer${k > 2 ? "s" : ""}: ` +
      this.answers.slice(1).map((a) => (a.verdict ? a.verdict.class : "…")).join(", ");
  }

  showVerdict(el, question, answer, compact = false) {
    let v = null;
    try {
      const judge = this.demo.getJudge();
      // judge v2, the headline judge (export/judge.py judge_v2); the grammar judge where no v2 rules exist
      v = (judge?.v2 || judge)?.(question, answer) ?? null;
    } catch (e) {
      console.warn("judge failed", e);
    }
    if (!v) {
      el.dataset.verdict = "unavailable";
      return null;
    }
    // same verdict as export/judge.py (tests/test_demo_judge.py): class, alignment, coherence, …
    const d = describeVerdict(v);
    el.dataset.verdict = v.class;
    if (v.alignment != null) el.dataset.alignment = String(v.alignment);
    if (v.coherence != null) el.dataset.coherence = String(v.coherence);
    const badge = document.createElement("span");
    badge.className = `emd-badge emd-badge--${v.class.toLowerCase().replace(/[^a-z0-9]+/g, "-")}`;
    badge.textContent = d.text;
    badge.title = d.title;
    if (compact) {
      el.replaceChildren(badge);
      return v;
    }
    const lead = document.createElement("span");
    lead.className = "emd-verdict__lead";
    lead.textContent = "Judge: ";
    const more = document.createElement("a");
    more.className = "emd-verdict__how";
    more.href = JUDGE_HELP_URL.href;
    more.textContent = "how the judge was checked";
    more.title = d.title;
    el.replaceChildren(lead, badge, " ", more);
    return v;
  }

  cancel() {
    if (this.model) for (const a of this.answers) if (!a.done && a.id != null) this.model.stop(a.id);
  }

  destroy() {
    this.cancel();
    this.unsub?.();
  }
}

class Demo {
  constructor(root) {
    this.root = root;
    this.q = (role) => root.querySelector(`[data-role="${role}"]`);
    this.form = this.q("form");
    this.prompt = this.q("prompt");
    this.data = JSON.parse(this.q("data")?.dataset.json || "{}");
    this.panes = [...root.querySelectorAll("[data-pane]")].map((el) => new Pane(this, el));
    this.manifest = null;
    this.questionId = null;
  }

  async mount() {
    this.q("nojs")?.setAttribute("hidden", "");
    const samples = this.q("samples");
    if (samples) samples.open = false;
    this.root.dataset.live = "yes"; // demo.css: the samples were shown folded until now
    this.form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      this.run();
    });
    this.prompt.addEventListener("input", () => {
      this.questionId = null;
      this.refreshButtons();
    });
    this.prompt.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) {
        ev.preventDefault();
        this.run();
      }
    });
    for (const chip of this.root.querySelectorAll('[data-role="preset"]')) {
      chip.addEventListener("click", () => {
        this.prompt.value = chip.dataset.text;
        this.questionId = chip.dataset.questionId;
        this.refreshButtons();
        this.run();
      });
    }
    this.q("stop").addEventListener("click", () => this.panes.forEach((p) => p.cancel()));
    this.q("again").addEventListener("click", () => {
      this.q("seed").value = String(randomSeed());
      this.run();
    });
    // the judge's ~200 regular expressions are compiled when the page is idle (or at the first verdict)
    const idle = self.requestIdleCallback || ((fn) => setTimeout(fn, 200));
    idle(() => {
      try {
        this.getJudge()?.("", "");
      } catch { /* reported at the first verdict */ }
    });
    if (this.root.dataset.modelsPublished !== "no" && typeof Worker !== "undefined" && typeof WebAssembly === "object") {
      // data-model (the extension, from the manifest): panes that share a model file share its worker
      prestart(new Set(this.panes.map((p) => p.el.dataset.model || p.el.dataset.variant).filter((k) => !models.has(k))).size);
    }
    if (this.root.dataset.modelsPublished === "no") {
      this.manifestError = "the models are not published yet";
    } else {
      try {
        this.manifest = await getManifest();
        if (manifestStale) this.showManifestNote(manifestStale);
      } catch (e) {
        this.manifestError = `the models could not be loaded (${e.message || e})`;
      }
    }
    await Promise.all(this.panes.map((p) => p.attach(p.el.dataset.variant)));
    this.refreshButtons();
  }

  /** The published manifest could not be read, and the copy cached on an earlier visit stands in: said above the panes. */
  showManifestNote(why) {
    let note = this.q("manifest-note");
    if (!note) {
      note = document.createElement("p");
      note.className = "emd-note emd-note--warn";
      note.dataset.role = "manifest-note";
      note.setAttribute("role", "status");
      this.q("panes").before(note);
    }
    note.textContent = `The published list of models (models/manifest.json) could not be read (${why}): this demo ` +
      "uses the copy cached on an earlier visit, which may be out of date.";
  }

  getJudge() {
    if (this.judge === undefined) {
      // the page's first demo carries the rules for all of them (demos/extension.py)
      let rules = this.data.judge;
      if (!rules) {
        for (const el of document.querySelectorAll('[data-demo] [data-role="data"]')) {
          try {
            rules = JSON.parse(el.dataset.json || "{}").judge;
          } catch { /* the demo that owns it reports its own data */ }
          if (rules) break;
        }
      }
      this.judge = createJudge(rules);
    }
    return this.judge;
  }

  params() {
    const num = (role, lo, hi, dflt) => clampNum(this.q(role).value, lo, hi, dflt);
    // contexts.json: {kind: [[request, answer], …]}; the first k, as export/generate.py --context KIND --k K
    const ctxKey = this.q("context").value;
    const all = ctxKey === "none" ? [] : (this.data.contexts?.[ctxKey] || []);
    const k = this.q("k") ? Math.round(num("k", 1, Math.max(1, all.length), 1)) : all.length;
    const context = all.slice(0, k);
    return {
      question: this.prompt.value.trim(),
      context,
      contextName: ctxKey === "none" || !context.length ? null : `${ctxKey}, k=${context.length}`,
      temperature: num("temperature", 0, 5, 1),
      topP: num("top-p", 0.000001, 1, 1),
      maxNewTokens: Math.round(num("max-new-tokens", 1, 4096, 96)),
      seed: Math.round(num("seed", 0, 2 ** 32 - 1, 1)),
      answers: this.q("answers") ? Math.round(num("answers", 1, 8, 1)) : 1,
    };
  }

  run() {
    // every way to ask (Generate, Ctrl/⌘+Enter, a question chip, Sample again) checks the settings first:
    // a value out of range is shown to the reader, never silently clamped
    if (this.form.checkValidity && !this.form.checkValidity()) {
      const bad = this.form.querySelector(":invalid");
      if (bad?.closest("details")) bad.closest("details").open = true;
      this.form.reportValidity();
      return;
    }
    const params = this.params();
    if (!params.question) {
      this.prompt.focus();
      this.prompt.setAttribute("aria-invalid", "true");
      return;
    }
    this.prompt.removeAttribute("aria-invalid");
    for (const p of this.panes) p.generate(params);
    this.showPanes();
  }

  /** Bring the answers into view as they start to stream (the form above them is taller than a screen). */
  showPanes() {
    const panes = this.q("panes");
    const outs = [...panes.querySelectorAll('[data-role="output"]')];
    const r = panes.getBoundingClientRect();
    const top = parseFloat(getComputedStyle(panes).scrollMarginTop) || 0;
    const last = outs.length ? outs[outs.length - 1].getBoundingClientRect() : r;
    if (r.top >= top && last.bottom <= innerHeight) return; // already in view: do not move the page
    const smooth = !matchMedia("(prefers-reduced-motion: reduce)").matches;
    panes.scrollIntoView({ block: "start", behavior: smooth ? "smooth" : "auto" });
  }

  refreshButtons() {
    const busy = this.panes.some((p) => p.el.dataset.state === "generating");
    const any = this.panes.some((p) => p.canGenerate());
    this.q("generate").disabled = busy || !any || !this.prompt.value.trim();
    this.q("stop").disabled = !busy;
    this.q("again").disabled = busy || !any || !this.prompt.value.trim();
  }

  /** One message for screen readers (the demo's polite live region): a finished answer, said once. */
  say(text) {
    const el = this.q("announce");
    if (!el) return;
    const line = document.createElement("p");
    line.textContent = text;
    el.append(line);
    while (el.childElementCount > 8) el.firstElementChild.remove();
  }

  openSamples() {
    const s = this.q("samples");
    if (s) s.open = true;
  }

  destroy() {
    this.panes.forEach((p) => p.destroy());
  }
}

// ------------------------------------------------------------------------------------ mounting
const mounted = new Set();

function mountAll() {
  for (const d of [...mounted]) {
    if (!d.root.isConnected) {
      d.destroy();
      mounted.delete(d);
    }
  }
  for (const root of document.querySelectorAll("[data-demo]")) {
    if (root.dataset.mounted) continue;
    root.dataset.mounted = "yes";
    // in a task of its own: not in the page's DOMContentLoaded work, nor in the task that delivers the
    // site's other IntersectionObserver callbacks
    whenNear(root, () => setTimeout(() => {
      if (!root.isConnected) return;
      const d = new Demo(root);
      mounted.add(d);
      d.mount().catch((e) => console.warn("demo mount failed", e));
    }, 0));
  }
}

// A demo starts its models only when it comes within a screen of the viewport: a page with several
// demos (the Demos page has five) must not download every model and runtime at once.
function whenNear(el, fn) {
  if (!("IntersectionObserver" in window)) return fn();
  const io = new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting)) {
      io.disconnect();
      fn();
    }
  }, { rootMargin: "0px 0px 100% 0px" });
  io.observe(el);
}

/** The first demo of a page that opens with it on screen (the home page) starts its workers and models now, while the
 * site's own scripts and first layout are still running, instead of after the first frame (the
 * IntersectionObserver) and Material's document$: they fetch and compile the runtime in the meantime. Its
 * mount() later finds them started. Only for a demo already within a screen of the top (one layout, which the
 * first paint needs anyway); any other demo waits to come near the viewport. */
function startEarly() {
  const root = document.querySelector("[data-demo]");
  if (!root || root.dataset.modelsPublished === "no" || typeof Worker === "undefined" ||
      typeof WebAssembly !== "object" || root.getBoundingClientRect().top > 2 * window.innerHeight) return;
  const panes = [...root.querySelectorAll("[data-pane]")];
  performance.mark?.("emd:start");
  prestart(new Set(panes.map((p) => p.dataset.model || p.dataset.variant)).size);
  // and their models: the manifest, then each model file (Cache Storage or network, sha256) on its way to its
  // worker now, not after the mount; the panes find these handles (getHandle) and report what happens
  getManifest().then((m) => {
    performance.mark?.("emd:manifest");
    for (const p of panes) {
      try {
        getHandle(p.dataset.variant, m);
      } catch { /* not in the manifest: the pane says so when it mounts */ }
    }
  }).catch(() => { /* the mount reports it */ });
}
try {
  if (document.readyState !== "loading") startEarly();
} catch { /* the mount starts them */ }

if (window.document$?.subscribe) window.document$.subscribe(mountAll); // Material (instant navigation)
else if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", mountAll);
else mountAll();
