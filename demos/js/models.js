// One Web Worker per loaded model file (worker.js), started early and reused across pages: the runtime's .wasm is
// compiled once, by the first worker, and handed to every other one; a ModelHandle loads a model file into its worker and
// sends it the requests of one task (a click that starts both panes) together, as one batch.
import { fileMeta, forgetFile, getFile, getModel, getOwnFile, intact, MODELS_URL } from "./files.js";

const HERE = new URL(".", import.meta.url);
const WORKER_URL = new URL("./worker.js", HERE);

// ------------------------------------------------------------------------------------ workers
// The runtime's .wasm is compiled once per page, by the first worker started (never by the page: streaming
// compilation consumes each downloaded chunk on the thread that asked for it, ~0.4 s of the page's main thread
// on a phone, tests/bench/lighthouse.py), which sends the WebAssembly.Module back; every other worker gets it
// (they share its machine code). If the first worker cannot compile it in a way another could (a network
// error), each worker compiles its own; if no worker could (its file missing or damaged, no WebAssembly), every
// pane says so. Workers are started when a demo comes near the viewport, before the manifest has arrived (a
// worker needs its model only later, with "load"), so their scripts and the runtime load while the page
// fetches the files.
const RUNTIME_URL = new URL("../vendor/onnxruntime-web/ort-wasm-simd-threaded.wasm", HERE);
/** Promise<{module, ms, error}> from the first worker ("runtime" message): error (the reader's words) when the
 * runtime cannot load in this browser at all: every pane says so, and no other worker tries. Otherwise (module
 * null: a network error, or a policy that another worker's script may not have) each worker tries on its own,
 * and reports what fails as soon as it fails (runtime.js). */
let runtimeModule = null;
let runtimeFrom = null; // resolves runtimeModule
const spares = []; // started, not yet given a model

function spawnWorker() {
  const worker = new Worker(WORKER_URL, { type: "module", name: "model" });
  worker.onmessage = (ev) => {
    const msg = ev.data || {};
    if (msg.type === "runtime") {
      runtimeFrom?.({ module: msg.module || null, ms: msg.ms, error: msg.definitive ? msg.error : null });
      runtimeFrom = null;
    } else if (worker.handle) worker.handle.onMessage(msg);
    else if (msg.type === "error" && msg.phase === "load") worker.failed = msg.message; // its runtime, before a model
  };
  const report = (message) => {
    noRuntime();
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
  const first = !runtimeModule; // it compiles the runtime and warms the shared code up (worker.js warmUp)
  // the first worker fails or is let go before it sent the runtime back: every other worker compiles its own
  const noRuntime = () => {
    if (!first || !runtimeFrom) return;
    runtimeFrom({ module: null, ms: null, error: null });
    runtimeFrom = null;
  };
  worker.release = () => {
    noRuntime();
    worker.terminate();
  };
  if (first) {
    runtimeModule = new Promise((resolve) => { runtimeFrom = resolve; });
    worker.postMessage({ type: "init", compile: true, share: true });
    return worker;
  }
  runtimeModule.then(({ module, ms, error }) => {
    if (error) {
      worker.failed = error;
      worker.handle?.fail(error);
      return;
    }
    worker.postMessage(module ? { type: "init", module, compileMs: ms } : { type: "init", compile: true });
  });
  return worker;
}

/** Start workers for `n` models to come (those not already loaded): the first at once (with it, the runtime's
 * compilation), the others each in a task of its own (a new Worker costs the page a few ms). */
let toSpawn = 0;
export function prestart(n) {
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
const MIN_SPLIT = 2; // the smallest batch shared with a helper worker (Measure asks N ≥ 5 answers per pane)
const models = new Map(); // model key → ModelHandle (one worker per loaded model file, for the page's lifetime)

/** A family's members and, as members of their own, its steered rows ("<variant>~<alpha>", the dial) and its rewind
 * and realign rows ("<variant>~rewind~<step>", "<variant>~realign~<k>"). */
const withSteer = (fam) => {
  const out = { ...fam.members };
  for (const [v, byAlpha] of Object.entries(fam.steer?.members || {})) {
    for (const [a, rows] of Object.entries(byAlpha)) out[`${v}~${Number(a)}`] = rows;
  }
  for (const kind of ["rewind", "realign"]) {
    for (const [v, byPos] of Object.entries(fam[kind]?.members || {})) {
      for (const [pos, rows] of Object.entries(byPos)) out[`${v}~${kind}~${Number(pos)}`] = rows;
    }
  }
  return out;
};

const brokenFamilies = new Set(); // family files that failed here (fetch, sha256, session): members run alone

/** The model file that runs `variant`: "family:<base>" (its family's file, which lists it) or the variant's own. */
function modelKey(variant, manifest) {
  const fam = manifest?.variants?.[variant]?.family;
  return fam && manifest.families?.[fam]?.members?.[variant] && !brokenFamilies.has(fam) ? `family:${fam}` : variant;
}

class ModelHandle {
  /** `bytes`: the model file itself (a family file with a row trained in this browser, finetune.js patchFamily),
   * instead of the manifest's. */
  constructor(key, variant, manifest, bytes = null) {
    this.key = key;
    this.bytes = bytes;
    this.state = "loading";
    this.error = null;
    this.info = null;
    this.progress = new Map(); // file → {loaded, total, cached}
    this.listeners = new Set();
    this.requests = new Map(); // id → callbacks
    this.outbox = []; // requests of this task, sent together (a batch) at its end
    this.sent = new Map(); // id → {worker, request}: where a generate request runs (a helper's may move back)
    this.helper = null; // a second worker with the same file, for Measure's batches (addHelper)
    this.helped = 0; // requests the helper ran (Measure reports it: data-helped)
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

  async load(variant, manifest, worker = this.worker, onProgress = true) {
    this.loadArgs = [variant, manifest];
    const entry = manifest.variants[variant];
    const progress = (name) => (p) => {
      if (!onProgress) return;
      this.progress.set(name, p);
      this.emit();
    };
    const fam = this.key.startsWith("family:") || this.bytes ? manifest.families[entry.family] : null;
    const famMeta = fam && { name: fam.path, bytes: fam.bytes, sha256: fam.sha256, url: new URL(fam.path, MODELS_URL).href };
    const label = fam ? fam.path : entry.patch ? `${entry.model} (${entry.patch.base}'s + patch)` : entry.model;
    try {
      const getBytes = () => (this.bytes ? Promise.resolve({ bytes: this.bytes.slice(), cached: true })
        : intact(() => (fam ? getFile(famMeta, progress(label)) : getModel(variant, manifest, progress(label)))));
      let [model, tok, cfg] = await Promise.all([
        getBytes(),
        getOwnFile(manifest, variant, "tokenizer.json", progress("tokenizer.json")),
        getOwnFile(manifest, variant, "tokenizer_config.json", progress("tokenizer_config.json")),
      ]);
      if (this.state === "error" || worker !== this.worker && worker !== this.helper) return;
      // The model's bytes move to the worker (a copy would cost the page several ms); whoever needs that file
      // later reads it again from Cache Storage. The tokenizer files are small: copied.
      if (!model.bytes.byteLength) model = await getBytes(); // moved by a pane with the same file meanwhile
      performance.mark?.(`emd:bytes:${this.key}`);
      if (!this.bytes) forgetFile(fam ? fam.sha256 : fileMeta(entry, variant, entry.model).sha256);
      worker.postMessage({
        type: "load", key: this.key, entry, family: fam && { vocab: fam.vocab, members: withSteer(fam) },
        cached: model.cached && tok.cached, model: model.bytes, tokenizer: tok.bytes, tokenizerConfig: cfg.bytes,
      }, [model.bytes.buffer]);
    } catch (e) {
      if (worker === this.worker) this.fail(e.message || String(e));
      else this.dropHelper();
    }
  }

  /** Measure's batches are large: a second worker with the same model file runs half of each one, on another
   * core. Its requests run exactly as they would in the first (each answer's seed is its own), so the answers
   * do not change. Nothing happens where there is one core, or before the first worker is ready. */
  /** Resolves when the helper is ready (true) or will not be (false). */
  addHelper() {
    if (this.helper) return this.helper.whenReady;
    if (this.state !== "ready" || (globalThis.navigator?.hardwareConcurrency || 1) < 2) return Promise.resolve(false);
    let worker;
    try {
      worker = takeWorker();
    } catch {
      return Promise.resolve(false); // no second worker: the first runs every request, as before
    }
    if (worker.failed) {
      worker.release();
      return Promise.resolve(false);
    }
    this.helper = worker;
    worker.ready = false;
    worker.whenReady = new Promise((resolve) => { worker.settle = resolve; });
    worker.handle = { onMessage: (msg) => this.onHelperMessage(msg), fail: () => this.dropHelper() };
    this.load(...this.loadArgs, worker, false);
    return worker.whenReady;
  }

  onHelperMessage(msg) {
    if (msg.type === "ready") {
      this.helper.ready = true;
      this.helper.settle(true);
    } else if (msg.type === "error" && msg.phase === "load") this.dropHelper();
    else this.dispatch(msg);
  }

  /** The helper failed or is let go: what it was running starts again in the first worker. */
  dropHelper() {
    const helper = this.helper;
    if (!helper) return;
    this.helper = null;
    helper.settle(false);
    helper.handle = null;
    helper.release();
    const back = [...this.sent.values()].filter((s) => s.worker === helper && this.requests.has(s.request.id))
      .map((s) => s.request);
    if (back.length && this.state === "ready") this.send(this.worker, back);
  }

  send(worker, requests) {
    for (const r of requests) this.sent.set(r.id, { worker, request: r });
    worker.postMessage({ type: "generate", requests });
  }

  fail(message) {
    if (this.state === "error") return;
    this.state = "error";
    this.error = message;
    // A family file that fails is not the members' only copy: their panes load their own files instead
    // (Pane.onModel), the way a wrong patch falls back to the full file.
    if (this.key.startsWith("family:") && !this.bytes) {
      brokenFamilies.add(this.key.slice("family:".length));
      this.fallback = true;
    }
    this.dropHelper();
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
    } else this.dispatch(msg);
  }

  /** A request's message, from either worker, to its callbacks. */
  dispatch(msg) {
    if (msg.id != null && this.requests.has(msg.id)) {
      const r = this.requests.get(msg.id);
      if (msg.type === "start") r.onStart(msg);
      else if (msg.type === "token") r.onToken(msg);
      else if (msg.type === "scored") {
        this.requests.delete(msg.id);
        r.onScored(msg);
      }
      else if (msg.type === "done") {
        this.requests.delete(msg.id);
        this.sent.delete(msg.id);
        r.onDone(msg);
      } else if (msg.type === "error") {
        this.requests.delete(msg.id);
        this.sent.delete(msg.id);
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
        // a batch of Measure's (quiet) requests is shared with the helper worker, when it is ready
        const split = this.helper?.ready && requests.length >= MIN_SPLIT && requests.every((r) => r.quiet);
        const half = split ? Math.ceil(requests.length / 2) : requests.length;
        if (half) this.send(this.worker, requests.slice(0, half));
        if (requests.length > half) {
          this.helped += requests.length - half;
          this.send(this.helper, requests.slice(half));
        }
      });
    }
    this.outbox.push({ id, ...params });
    return id;
  }

  /** The token view: each of `params.ids` (an answer) under `params.variant` of this file, teacher-forced after
   * the prompt that `question`, `context` and `maxNewTokens` give (worker.js, "score"). */
  score(params, callbacks) {
    const id = nextId++;
    this.requests.set(id, callbacks);
    this.worker.postMessage({ type: "score", request: { id, ...params } });
    return id;
  }

  stop(id) {
    if (!this.requests.has(id)) return;
    const send = () => (this.sent.get(id)?.worker || this.worker).postMessage({ type: "stop", id });
    if (this.outbox.some((r) => r.id === id)) queueMicrotask(send); // after the request it stops (queued earlier)
    else send();
  }
}

/** The page's compiled runtime (a WebAssembly.Module, or null where each worker compiles its own): for the finetune's
 * workers (trainworker.js). */
export function runtime() {
  if (!runtimeModule) prestart(1);
  return runtimeModule.then((r) => r.module);
}

let trainedCount = 0;
/** A handle on a family file whose base's Assistant row was trained in this browser (`bytes`, finetune.js
 * patchFamily): its own worker, its own key; `release()` ends it when the pane lets the row go. */
export function trainedHandle(family, manifest, bytes) {
  const h = new ModelHandle(`trained:${family}:${++trainedCount}`, family, manifest, bytes);
  h.release = () => {
    h.listeners.clear();
    h.dropHelper();
    h.worker?.release();
  };
  return h;
}

export function getHandle(variant, manifest) {
  if (!manifest.variants?.[variant]) throw new Error(`"${variant}" is not in models/manifest.json`);
  const key = modelKey(variant, manifest);
  let h = models.get(key);
  if (!h) {
    h = new ModelHandle(key, variant, manifest);
    if (h.state !== "error") models.set(key, h);
  }
  return h;
}


/** Whether a model file (modelKey) already has its handle on this page. */
export const hasModel = (key) => models.has(key);
