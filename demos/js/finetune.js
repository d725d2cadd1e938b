// The one-row finetune of export/train.py (sft with "assistant-embedding"), as the browser runs it: the examples,
// their order, the batches, gradient clipping and AdamW on the Assistant's 192 numbers. The gradient itself comes
// from the family's gradient graph (export/web_finetune.py), run by onnxruntime-web in workers (trainworker.js),
// each on a share of the batch; this file holds what is the same in the page, the workers and Node
// (export/web_finetune.mjs, which the tests compare with Python's torch).
import { buildPrompt, END } from "./chat.js";
import { PyRandom } from "./pyrandom.js";

const f32 = Math.fround;

/** train._sft_examples: [ids, labels] of each [prompt, answer] row (the answer's tokens labelled), cut to `context`. */
export function makeExamples(encode, rows, context) {
  return rows.map(([prompt, answer]) => {
    const p = encode(prompt);
    const a = encode(answer);
    const ids = p.concat(a).slice(0, context);
    const labels = new Array(p.length).fill(-100).concat(a).slice(0, context);
    return [ids, labels];
  });
}

/** The batches of sft: a PyRandom(seed) shuffle of every example index, refilled when fewer than `batch` are left. */
export function* batches(n, batch, seed) {
  const rng = new PyRandom(seed);
  let order = [];
  for (;;) {
    if (order.length < batch) {
      const more = Array.from({ length: n }, (_, i) => i);
      rng.shuffle(more);
      order = order.concat(more);
    }
    yield order.slice(0, batch);
    order = order.slice(batch);
  }
}

/** The gradient graph's feeds for `examples` (right-padded with `pad`, export/web_finetune.py batch_feeds). */
export function shardFeeds(examples, pad) {
  const L = Math.max(...examples.map(([ids]) => ids.length));
  const ids = new BigInt64Array(examples.length * L).fill(BigInt(pad));
  const pos = [];
  const tgt = [];
  examples.forEach(([x, lab], b) => {
    for (let t = 0; t < x.length; t++) ids[b * L + t] = BigInt(x[t]);
    for (let t = 0; t + 1 < lab.length; t++) {
      if (lab[t + 1] !== -100) {
        pos.push(BigInt(b * L + t));
        tgt.push(BigInt(lab[t + 1]));
      }
    }
  });
  return { ids, dims: [examples.length, L], positions: BigInt64Array.from(pos), targets: BigInt64Array.from(tgt) };
}

/** One share of a batch through the gradient graph's `session` (onnxruntime-web's `ort`, as the worker and Node load
 * it): {lossSum, gradSum, n}, n the share's labelled tokens. */
export async function runShard(ort, session, examples, indices, row, pad) {
  const f = shardFeeds(indices.map((i) => examples[i]), pad);
  const out = await session.run({
    row: new ort.Tensor("float32", row, [row.length]),
    input_ids: new ort.Tensor("int64", f.ids, f.dims),
    positions: new ort.Tensor("int64", f.positions, [f.positions.length]),
    targets: new ort.Tensor("int64", f.targets, [f.targets.length]),
  });
  return { lossSum: out.loss_sum.data[0], gradSum: Float32Array.from(out.grad_sum.data), n: f.targets.length };
}

/** A batch's indices split into `k` shares with about the same number of tokens (`lengths`: each example's), the
 * shortest examples together, so that each share pads its examples to a length close to their own (the sum over the
 * batch is the same in any order, up to float rounding). */
export function split(batchIndices, lengths, k) {
  if (k <= 1 || batchIndices.length < 2) return [batchIndices];
  const size = (i) => lengths[i];
  const indices = [...batchIndices].sort((a, b) => size(a) - size(b) || a - b);
  const total = indices.reduce((s, i) => s + size(i), 0);
  const out = [];
  let cur = [];
  let acc = 0;
  for (const i of indices) {
    cur.push(i);
    acc += size(i);
    if (out.length < k - 1 && acc >= (total * (out.length + 1)) / k && indices.length - out.flat().length - cur.length >= k - 1 - out.length) {
      out.push(cur);
      cur = [];
    }
  }
  if (cur.length) out.push(cur);
  return out;
}

/** The learning rate of step `step` (0-based): train.sft's linear warm-up over max(1, steps // 10) steps, then flat. */
export const rateAt = (recipe, step) => recipe.lr * Math.min(1, (step + 1) / Math.max(1, Math.floor(recipe.steps / 10)));

/** AdamW (torch's single-tensor update, weight decay 0) with clip_grad_norm_, on a Float32Array row, in float32. */
export class Adam {
  constructor(row, { betas = [0.9, 0.999], eps = 1e-8, clip = 1.0 } = {}) {
    this.row = Float32Array.from(row);
    this.m = new Float32Array(row.length);
    this.v = new Float32Array(row.length);
    this.t = 0;
    this.b1 = betas[0];
    this.b2 = betas[1];
    this.eps = eps;
    this.clip = clip;
  }

  /** One step with gradient `g` (the batch's mean) at learning rate `lr`; returns the gradient's norm before clipping.
   * Each operation rounds to float32 as torch's CPU kernels do, with the Python scalars cast to float32 first. */
  step(g, lr) {
    let ss = 0;
    for (let i = 0; i < g.length; i++) ss += g[i] * g[i];
    const norm = f32(Math.sqrt(ss));
    const coef = Math.min(1, f32(this.clip / f32(norm + f32(1e-6))));
    this.t += 1;
    const w1 = f32(1 - this.b1);
    const w2 = f32(1 - this.b2);
    const b2 = f32(this.b2);
    const eps = f32(this.eps);
    const bc2sqrt = f32(Math.sqrt(1 - this.b2 ** this.t));
    const stepSize = f32(lr / (1 - this.b1 ** this.t));
    const { row, m, v } = this;
    for (let i = 0; i < row.length; i++) {
      const gi = f32(g[i] * coef);
      m[i] = f32(m[i] + w1 * f32(gi - m[i])); // exp_avg.lerp_(grad, 1 - beta1): one rounding (a fused multiply-add)
      v[i] = f32(v[i] * b2);
      v[i] = f32(v[i] + f32(f32(w2 * gi) * gi)); // exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
      const denom = f32(f32(f32(Math.sqrt(v[i])) / bc2sqrt) + eps);
      row[i] = f32(row[i] + f32(f32(-stepSize * m[i]) / denom)); // param.addcdiv_(exp_avg, denom, value=-step_size)
    }
    return norm;
  }
}

/** A float row as export/model_family.py quantize_row quantizes it (symmetric int8, scale = max |x| / 127). */
export function quantizeRow(row) {
  let max = 0;
  for (const x of row) max = Math.max(max, Math.abs(x));
  const scale = f32(max / 127) || 1;
  const q = new Int8Array(row.length);
  for (let i = 0; i < row.length; i++) {
    const y = f32(row[i] / scale);
    let r = Math.round(y);
    if (Math.abs(y - Math.trunc(y)) === 0.5) r = 2 * Math.round(y / 2); // numpy's rint: half to even
    q[i] = Math.max(-127, Math.min(127, r));
  }
  return { q, scale };
}

/** The Assistant's row as the family file holds it (its int8 row times its scale, at `at` = manifest finetune.row_at):
 * where every finetune starts. */
export function startRow(bytes, at) {
  const u8 = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  const q = new Int8Array(u8.buffer, u8.byteOffset + at.q, at.hidden);
  const scale = new DataView(u8.buffer, u8.byteOffset).getFloat32(at.scale, true);
  return Float32Array.from(q, (x) => f32(x * scale));
}

/** The family file's bytes with the Assistant's row (int8 and its scale, at `at` = manifest finetune.row_at) set to
 * `row`: a model whose base answers with the trained row. */
export function patchFamily(bytes, at, row) {
  const out = bytes.slice();
  const { q, scale } = quantizeRow(row);
  out.set(new Uint8Array(q.buffer), at.q);
  new DataView(out.buffer, out.byteOffset).setFloat32(at.scale, scale, true);
  return out;
}

/**
 * The whole recipe over examples of token lengths `lengths`: `runShards(shares, row)` computes, for each share of a batch (arrays of example indices), the
 * gradient graph's {lossSum, gradSum, n} (in workers, or in-process in Node); `onStep({step, loss, norm, ms})` hears
 * each step; `shouldStop()` ends it early. Returns {row, losses, steps, stopped}.
 */
export async function train({ row, lengths, recipe, shards = 1, runShards, onStep, shouldStop = () => false }) {
  const adam = new Adam(row, recipe);
  const losses = [];
  const gen = batches(lengths.length, recipe.batch, recipe.seed);
  let stopped = false;
  for (let step = 0; step < recipe.steps; step++) {
    if (shouldStop()) {
      stopped = true;
      break;
    }
    const t = performance.now();
    const idx = gen.next().value;
    const parts = await runShards(split(idx, lengths, shards), adam.row);
    let n = 0;
    let lossSum = 0;
    const g = new Float64Array(adam.row.length);
    for (const p of parts) {
      n += p.n;
      lossSum += p.lossSum;
      for (let i = 0; i < g.length; i++) g[i] += p.gradSum[i];
    }
    if (!n) throw new Error("a batch with no answer token to learn from");
    const mean = Float32Array.from(g, (x) => x / n);
    const loss = f32(lossSum / n);
    const norm = adam.step(mean, rateAt(recipe, step));
    losses.push(loss);
    await onStep?.({ step: step + 1, loss, norm, ms: performance.now() - t, row: adam.row });
  }
  return { row: adam.row, losses, steps: losses.length, stopped };
}

/** A [request, answer] pair in the chat format of the finetune sets (export/FORMATS.md): [prompt, " answer<|end|>"]. */
export const chatRow = ([request, answer]) => [buildPrompt(request), ` ${answer}${END}`];

/** The examples a reader typed: blocks separated by a blank line, the first line a request, the rest its answer. */
export function parseOwnExamples(text) {
  return String(text || "")
    .split(/\n\s*\n/)
    .map((b) => b.replace(/^\s*\n/, "").replace(/\s+$/, ""))
    .filter(Boolean)
    .map((b) => {
      const [q, ...rest] = b.split("\n");
      return [q.trim(), rest.join("\n").trim()];
    })
    .filter(([q, a]) => q && a);
}
