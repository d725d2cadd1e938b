// The demo's model files: the manifest (models/manifest.json, with a cached copy for when it cannot be read) and
// every file a pane needs, fetched once per page whichever panes share it, checked against the manifest's sha256,
// kept in Cache Storage by content, and a finetune's model rebuilt from its base's file and a patch.
import { sha256Hex } from "./sha256.js";

const HERE = new URL(".", import.meta.url);
export const MODELS_URL = new URL("../../models/", HERE); // docs/assets/demo/ → docs/models/

// ------------------------------------------------------------------------------------ manifest
let manifestPromise = null;
let manifestStale = null; // why the published manifest could not be read, when the cached copy is in use
export function getManifest() {
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
  if ((await digest(bytes)) === sha256) return bytes;
  await cache.delete(cacheKey(sha256)); // damaged: fetched again
  return null;
}

/** Drop the cached files that the manifest no longer lists (a republished model). */
async function pruneCache(cache, manifest) {
  if (!cache) return;
  const keep = new Set();
  for (const e of Object.values(manifest.variants || {})) for (const f of e.files || []) keep.add(cacheKey(f.sha256));
  for (const f of Object.values(manifest.families || {})) {
    keep.add(cacheKey(f.sha256));
    const ft = f.finetune; // the in-browser finetune's graph and sets (trainer.js)
    for (const x of ft ? [ft.graph, ...Object.values(ft.sets || {})] : []) keep.add(cacheKey(x.sha256));
  }
  const prefix = cacheKey("");
  for (const req of await cache.keys()) if (req.url.startsWith(prefix) && !keep.has(req.url)) cache.delete(req);
}

// The steps of a file's arrival (the last chunks, the hash, the cache write) each in a task of their own: chained
// on promises that are already resolved, they ran as one task, a long one on a slow phone (issue 24)
const nextTask = () => new Promise((r) => setTimeout(r, 0));

async function digest(bytes) {
  await nextTask();
  return sha256Hex(bytes);
}

async function toCache({ sha256 }, bytes) {
  await nextTask();
  const cache = await openCache();
  try {
    // through a Blob: a Response made from the bytes themselves is written on the main thread (measured in Chromium
    // at 4x CPU slowdown: a 73 ms long task for a 2.4 MB model, against 12 + 19 ms in short steps this way)
    const body = new Blob([bytes], { type: "application/octet-stream" });
    if (sha256) await cache?.put(cacheKey(sha256), new Response(body));
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
    let slice = performance.now();
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
      // chunks that are already here resolve one after another in one task: past 10 ms, let the page run
      if (now - slice > 10) {
        await nextTask();
        slice = performance.now();
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
    const got = await digest(buf);
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

/** A copy of a file's verified bytes, taken in the same step as the check that they are still here (a pane's handle may
 * move the shared bytes to its worker at any await: models.js load). */
export async function copyOfFile(meta) {
  for (let i = 0; i < 3; i++) {
    const r = await getFile(meta);
    if (r.bytes.byteLength) return r.bytes.slice();
  }
  throw new Error(`${meta.name}: its bytes kept being moved to a worker`);
}

/** `get()`'s bytes, read again if they were handed to a worker in the meantime (moved out: length 0). */
export async function intact(get) {
  const r = await get();
  return r.bytes.byteLength ? r : get(); // the mover dropped the shared entry: this reads the file again
}

export function fileMeta(entry, variant, path) {
  const f = entry.files?.find((x) => x.path === path);
  if (!f) throw new Error(`manifest.json lists no ${path} for ${variant}`);
  return { name: path, bytes: f.bytes, sha256: f.sha256, url: new URL(path, new URL(`${variant}/`, MODELS_URL)).href };
}

/** A plain file of a variant: Cache Storage, else the network (then cached). */
export function getFile(meta, onProgress) {
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
export async function getOwnFile(manifest, variant, path, onProgress) {
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
export function getModel(variant, manifest, onProgress) {
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
          if ((await digest(bytes)) === meta.sha256) {
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


/** Why the published manifest could not be read, when the copy cached on an earlier visit is in use (else null). */
export const manifestNote = () => manifestStale;

/** Forget a file's shared bytes (they were moved to a worker): whoever needs it later reads it again. */
export const forgetFile = (key) => files.delete(key);
