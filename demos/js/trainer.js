// The in-browser finetune, page side: fetches the family's gradient graph and the training set (sha256-checked, cached
// like the models: files.js), starts the workers (trainworker.js: one per core, at most two), and runs the recipe's
// loop (finetune.js train): each step sends every worker its share of the batch and the row, adds up their sums,
// clips and takes the AdamW step. The page's part of a step is a few hundred multiplications; the forward and
// backward passes run in the workers.
import { startRow, train } from "./finetune.js";
import { copyOfFile, getFile, getOwnFile, MODELS_URL } from "./files.js";
import { runtime } from "./models.js";

const WORKER_URL = new URL("./trainworker.js", import.meta.url);
const meta = (e) => ({ name: e.path, bytes: e.bytes, sha256: e.sha256, url: new URL(e.path, MODELS_URL).href });

/** The finetune sets of `family` (manifest families.<family>.finetune), or null where it has none. */
export const finetuneOf = (manifest, family) => manifest?.families?.[family]?.finetune || null;

export class BrowserTrainer {
  /** `rows`: [prompt, answer] pairs in the chat format, or null for the published set `set`. */
  constructor(manifest, family, set, rows = null) {
    this.manifest = manifest;
    this.family = family;
    this.ft = finetuneOf(manifest, family);
    this.set = set;
    this.rows = rows;
    this.workers = [];
    this.stopped = false;
  }

  /** Files, workers, sessions; `onProgress(text)` hears what it is doing. Resolves with the examples' lengths. */
  async prepare(onProgress = () => {}) {
    const ft = this.ft;
    const fam = this.manifest.families[this.family];
    onProgress("fetching the gradient graph and the training set…");
    const [graph, weights, set, tok, cfg, module] = await Promise.all([
      getFile(meta(ft.graph)),
      copyOfFile(meta(fam)),
      this.rows ? null : getFile(meta(ft.sets[this.set])),
      getOwnFile(this.manifest, this.family, "tokenizer.json"),
      getOwnFile(this.manifest, this.family, "tokenizer_config.json"),
      runtime().catch(() => null),
    ]);
    const rows = this.rows || JSON.parse(new TextDecoder().decode(set.bytes));
    this.start = startRow(weights, ft.row_at);
    const k = Math.max(1, Math.min(2, globalThis.navigator?.hardwareConcurrency || 1, Math.floor(rows.length / 2) || 1));
    onProgress(`starting ${k} worker${k > 1 ? "s" : ""}…`);
    const ready = [];
    for (let i = 0; i < k; i++) {
      const w = new Worker(WORKER_URL, { type: "module", name: "finetune" });
      this.workers.push(w);
      w.pending = new Map();
      ready.push(new Promise((resolve, reject) => {
        w.onmessage = (ev) => {
          const msg = ev.data || {};
          if (msg.type === "ready") resolve(msg);
          else if (msg.type === "ran") w.pending.get(msg.id)?.resolve(msg);
          else if (msg.type === "error") {
            const p = w.pending.get(msg.id);
            if (p) p.reject(new Error(msg.message));
            else reject(new Error(msg.message));
          }
        };
        w.onerror = (ev) => {
          ev.preventDefault?.();
          const err = new Error(`The finetune's worker failed: ${ev.message || "its script did not load"}.`);
          reject(err);
          for (const p of w.pending.values()) p.reject(err);
        };
      }));
      // each worker gets its own copy (postMessage clones) of the graph and the family file's bytes (its weights)
      w.postMessage({ type: "init", module, graph: graph.bytes, weights,
        weightsName: ft.graph.weights.split("/").pop(), tokenizer: tok.bytes, tokenizerConfig: cfg.bytes, rows,
        context: ft.recipe.context, pad: ft.pad });
    }
    const msgs = await Promise.all(ready);
    if (msgs[0].unlabelled) {
      throw new Error(`${msgs[0].unlabelled} example(s) leave no room for an answer in the model's ` +
        `${ft.recipe.context}-token window: shorten them`);
    }
    this.lengths = msgs[0].lengths;
    return this.lengths;
  }

  /** Runs the recipe (`steps` to shorten it); `onStep({step, loss, ms, row})` after each step. Resolves with
   * {row, losses, steps, stopped, seconds}. */
  async run(onStep, steps = null) {
    let id = 0;
    const recipe = { ...this.ft.recipe, steps: steps || this.ft.recipe.steps };
    const t0 = performance.now();
    const out = await train({
      row: this.start,
      lengths: this.lengths,
      recipe,
      shards: this.workers.length,
      runShards: (shares, row) => Promise.all(shares.map((indices, i) => new Promise((resolve, reject) => {
        const w = this.workers[i];
        const key = ++id;
        w.pending.set(key, { resolve: (m) => { w.pending.delete(key); resolve(m); }, reject });
        w.postMessage({ type: "run", id: key, indices, row: Float32Array.from(row) });
      }))),
      onStep,
      shouldStop: () => this.stopped,
    });
    return { ...out, seconds: (performance.now() - t0) / 1000, recipe };
  }

  stop() {
    this.stopped = true;
  }

  dispose() {
    for (const w of this.workers) w.terminate();
    this.workers = [];
  }
}
