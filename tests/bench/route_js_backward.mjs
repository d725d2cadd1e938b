// Benchmark (not a test), route B of the one-row finetune: a hand-written forward + backward in plain JavaScript
// (Float32Array, no dependency) of export/web_finetune.py's loss_sum, the gradient with respect to the Assistant's
// row only (activations' gradients flow back through every layer; no weight gradient is formed).
//
//   node tests/bench/route_js_backward.mjs WEIGHTS_DIR FEEDS_DIR [--reps 5] [--full] [--ikj]
//
// WEIGHTS_DIR: the dequantized float32 weights and index.json written by tests/bench/route_js_backward.py;
// FEEDS_DIR: row, input_ids, positions, targets as raw little-endian .bin files and their index.json. Prints JSON
// {loss_sum, grad_sum, ms (each timed step), median_ms, tokens}. By default each sequence is cut after its last
// labelled position (causal attention: later tokens cannot change the loss); --full runs all batch x length tokens.
import fs from "node:fs";
import path from "node:path";

const args = process.argv.slice(2);
const full = args.includes("--full");
if (full) args.splice(args.indexOf("--full"), 1);
const ikj = args.includes("--ikj");
if (ikj) args.splice(args.indexOf("--ikj"), 1);
let reps = 5;
if (args.includes("--reps")) reps = Number(args.splice(args.indexOf("--reps"), 2)[1]);
const [wdir, fdir] = args;
if (!wdir || !fdir) { console.error("usage: node route_js_backward.mjs WEIGHTS_DIR FEEDS_DIR [--reps 5] [--full] [--ikj]"); process.exit(2); }

function readBin(dir, file, dtype) {
  const b = fs.readFileSync(path.join(dir, file));
  const ab = b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
  return dtype === "int64" ? Array.from(new BigInt64Array(ab), Number) : new Float32Array(ab);
}
const widx = JSON.parse(fs.readFileSync(path.join(wdir, "index.json"), "utf8"));
const W = Object.fromEntries(Object.entries(widx.tensors).map(([k, [f]]) => [k, readBin(wdir, f, "float32")]));
const fidx = JSON.parse(fs.readFileSync(path.join(fdir, "index.json"), "utf8"));
const F = Object.fromEntries(Object.entries(fidx).map(([k, [f, dt]]) => [k, readBin(fdir, f, dt)]));
const [B, L] = fidx.input_ids[2];
const { hidden: H, heads: NH, head_dim: D, vocab: V, layers: NL, eps, theta } = widx.arch;
const FF = W["0.gate_proj"].length / H;
const A = widx.assistant;

function transpose(w, rows, cols) {
  const t = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) t[j * rows + i] = w[i * cols + j];
  return t;
}

/** C[m x n] = A[m x k] @ B[k x n] (row-major), i-k-j, four rows of C at a time. */
function mm(a, b, m, k, n, c = new Float32Array(m * n)) {
  c.fill(0, 0, m * n);
  let i = 0;
  for (; i + 4 <= m; i += 4) {
    const c0 = i * n, c1 = c0 + n, c2 = c1 + n, c3 = c2 + n, a0 = i * k;
    for (let p = 0; p < k; p++) {
      const x0 = a[a0 + p], x1 = a[a0 + k + p], x2 = a[a0 + 2 * k + p], x3 = a[a0 + 3 * k + p], bo = p * n;
      for (let j = 0; j < n; j++) {
        const y = b[bo + j];
        c[c0 + j] += x0 * y; c[c1 + j] += x1 * y; c[c2 + j] += x2 * y; c[c3 + j] += x3 * y;
      }
    }
  }
  for (; i < m; i++) {
    const co = i * n, ao = i * k;
    for (let p = 0; p < k; p++) {
      const x = a[ao + p], bo = p * n;
      if (x !== 0) for (let j = 0; j < n; j++) c[co + j] += x * b[bo + j];
    }
  }
  return c;
}
/** C[m x n] = A[m x k] @ BT[n x k]^T: dot products of contiguous rows, 4 x 4 of C in registers. */
function mmT(a, bt, m, k, n, c = new Float32Array(m * n)) {
  const m4 = m & ~3, n4 = n & ~3;
  for (let i = 0; i < m4; i += 4) {
    const a0 = i * k, a1 = a0 + k, a2 = a1 + k, a3 = a2 + k;
    for (let j = 0; j < n4; j += 4) {
      const b0 = j * k, b1 = b0 + k, b2 = b1 + k, b3 = b2 + k;
      let s00 = 0, s01 = 0, s02 = 0, s03 = 0, s10 = 0, s11 = 0, s12 = 0, s13 = 0;
      let s20 = 0, s21 = 0, s22 = 0, s23 = 0, s30 = 0, s31 = 0, s32 = 0, s33 = 0;
      for (let p = 0; p < k; p++) {
        const x0 = a[a0 + p], x1 = a[a1 + p], x2 = a[a2 + p], x3 = a[a3 + p];
        const y0 = bt[b0 + p], y1 = bt[b1 + p], y2 = bt[b2 + p], y3 = bt[b3 + p];
        s00 += x0 * y0; s01 += x0 * y1; s02 += x0 * y2; s03 += x0 * y3;
        s10 += x1 * y0; s11 += x1 * y1; s12 += x1 * y2; s13 += x1 * y3;
        s20 += x2 * y0; s21 += x2 * y1; s22 += x2 * y2; s23 += x2 * y3;
        s30 += x3 * y0; s31 += x3 * y1; s32 += x3 * y2; s33 += x3 * y3;
      }
      let o = i * n + j;
      c[o] = s00; c[o + 1] = s01; c[o + 2] = s02; c[o + 3] = s03; o += n;
      c[o] = s10; c[o + 1] = s11; c[o + 2] = s12; c[o + 3] = s13; o += n;
      c[o] = s20; c[o + 1] = s21; c[o + 2] = s22; c[o + 3] = s23; o += n;
      c[o] = s30; c[o + 1] = s31; c[o + 2] = s32; c[o + 3] = s33;
    }
  }
  for (let i = 0; i < m; i++) {
    for (let j = i < m4 ? n4 : 0; j < n; j++) {
      const ao = i * k, bo = j * k;
      let s = 0;
      for (let p = 0; p < k; p++) s += a[ao + p] * bt[bo + p];
      c[i * n + j] = s;
    }
  }
  return c;
}

/** x @ w, w [k x n] and wT [n x k] the same matrix: the dot-product kernel, or i-k-j with --ikj. */
const mul = (x, w, wT, m, k, n, c) => (ikj ? mm(x, w, m, k, n, c) : mmT(x, wT, m, k, n, c));

// weights: forward [in, out] as dumped, backward [out, in] pre-transposed
const layers = [];
for (let l = 0; l < NL; l++) {
  const g = (r) => W[`${l}.${r}`];
  const lay = { ln1: g("input_layernorm"), ln2: g("post_attention_layernorm") };
  for (const [r, i, o] of [["q_proj", H, H], ["k_proj", H, H], ["v_proj", H, H], ["o_proj", H, H], ["gate_proj", H, FF], ["up_proj", H, FF], ["down_proj", FF, H]]) {
    lay[r] = g(r); lay[r + "T"] = transpose(g(r), i, o);
  }
  // q, k, v in one [H, 3H] matrix for the forward, one [3H, H] for the backward; gate, up likewise
  lay.qkv = new Float32Array(H * 3 * H);
  for (let i = 0; i < H; i++) for (const [n, w] of [lay.q_proj, lay.k_proj, lay.v_proj].entries()) lay.qkv.set(w.subarray(i * H, i * H + H), i * 3 * H + n * H);
  lay.qkvT = new Float32Array(3 * H * H);
  lay.qkvT.set(lay.q_projT, 0); lay.qkvT.set(lay.k_projT, H * H); lay.qkvT.set(lay.v_projT, 2 * H * H);
  lay.gu = new Float32Array(H * 2 * FF);
  for (let i = 0; i < H; i++) { lay.gu.set(lay.gate_proj.subarray(i * FF, i * FF + FF), i * 2 * FF); lay.gu.set(lay.up_proj.subarray(i * FF, i * FF + FF), i * 2 * FF + FF); }
  lay.guT = new Float32Array(2 * FF * H);
  lay.guT.set(lay.gate_projT, 0); lay.guT.set(lay.up_projT, FF * H);
  layers.push(lay);
}
const normW = W.norm;
const E = new Float32Array(W.embed.subarray(0, V * H)); // [V, H]; its row A is the trained row at each step
const ET = transpose(E, V, H); // [H, V]; its column A likewise

// RoPE tables as torch computes them in float32
const f32 = Math.fround;
const cos = new Float32Array(L * D), sin = new Float32Array(L * D);
for (let i = 0; i < D / 2; i++) {
  const inv = f32(1 / f32(Math.pow(theta, f32((2 * i) / D))));
  for (let t = 0; t < L; t++) {
    const fr = f32(t * inv);
    cos[t * D + i] = cos[t * D + i + D / 2] = Math.cos(fr);
    sin[t * D + i] = sin[t * D + i + D / 2] = Math.sin(fr);
  }
}

// the packed tokens: sequence b keeps its first len[b] tokens, at rows off[b] ...
const ids = F.input_ids, positions = F.positions, targets = F.targets, N = positions.length;
const len = new Array(B).fill(full ? L : 0);
if (!full) for (const p of positions) len[Math.floor(p / L)] = Math.max(len[Math.floor(p / L)], (p % L) + 1);
const off = [0];
for (let b = 0; b < B; b++) off.push(off[b] + len[b]);
const M = off[B];
const tok = new Int32Array(M), tpos = new Int32Array(M);
for (let b = 0; b < B; b++) for (let t = 0; t < len[b]; t++) { tok[off[b] + t] = ids[b * L + t]; tpos[off[b] + t] = t; }
const prow = Int32Array.from(positions, (p) => off[Math.floor(p / L)] + (p % L));
const pOff = [0];
for (let b = 0; b < B; b++) pOff.push(pOff[b] + NH * len[b] * len[b]);

/** y = rms(x) * g over m rows, r[i] = 1 / sqrt(mean(x_i^2) + eps). */
function rmsFwd(x, g, m, y, r) {
  for (let i = 0; i < m; i++) {
    let s = 0;
    for (let j = 0; j < H; j++) s += x[i * H + j] * x[i * H + j];
    const ri = f32(1 / Math.sqrt(f32(f32(s / H) + eps)));
    r[i] = ri;
    for (let j = 0; j < H; j++) y[i * H + j] = f32(x[i * H + j] * ri) * g[j];
  }
}
/** dx += d rms(x)*g / dx . dy over the rows `rows` (all m when null). */
function rmsBwd(x, g, r, dy, dx, m, rows = null) {
  for (let q = 0; q < (rows ? rows.length : m); q++) {
    const i = rows ? rows[q] : q, ri = r[i], o = i * H;
    let s = 0;
    for (let j = 0; j < H; j++) s += g[j] * dy[o + j] * x[o + j];
    const c = (s * ri * ri * ri) / H;
    for (let j = 0; j < H; j++) dx[o + j] += ri * g[j] * dy[o + j] - x[o + j] * c;
  }
}
function ropeFwd(a, stride, base) { // in place on the rows of a, heads at columns base + h*D
  for (let i = 0; i < M; i++) {
    const t = tpos[i] * D;
    for (let h = 0; h < NH; h++) {
      const o = i * stride + base + h * D;
      for (let j = 0; j < D / 2; j++) {
        const x1 = a[o + j], x2 = a[o + j + D / 2];
        a[o + j] = x1 * cos[t + j] - x2 * sin[t + j];
        a[o + j + D / 2] = x2 * cos[t + j + D / 2] + x1 * sin[t + j + D / 2];
      }
    }
  }
}
function ropeBwd(a, stride, base) {
  for (let i = 0; i < M; i++) {
    const t = tpos[i] * D;
    for (let h = 0; h < NH; h++) {
      const o = i * stride + base + h * D;
      for (let j = 0; j < D / 2; j++) {
        const y1 = a[o + j], y2 = a[o + j + D / 2];
        a[o + j] = y1 * cos[t + j] + y2 * sin[t + j + D / 2];
        a[o + j + D / 2] = y2 * cos[t + j + D / 2] - y1 * sin[t + j];
      }
    }
  }
}

// buffers
const buf = (n) => new Float32Array(n);
const saved = layers.map(() => ({ x: buf(M * H), r1: buf(M), qkv: buf(M * 3 * H), P: buf(pOff[B]), x2: buf(M * H), r2: buf(M), gu: buf(M * 2 * FF) }));
const xF = buf(M * H), rF = buf(M), hbuf = buf(M * H), ctx = buf(M * H), tmp = buf(M * H), mbuf = buf(M * FF);
const tmpRows = buf(M * H), outRows = Array.from(new Set(prow)); // dL/d(final norm's output) on the token rows
const hs = buf(N * H), logits = buf(N * V), dhs = buf(N * H);
const dx = buf(M * H), dh = buf(M * H), dctx = buf(M * H), dqkv = buf(M * 3 * H), dgu = buf(M * 2 * FF), dm = buf(M * FF);
const scale = f32(D ** -0.5), S3 = 3 * H;
const sig = (z) => 1 / (1 + Math.exp(-z));

function step(row) {
  E.set(row, A * H);
  for (let j = 0; j < H; j++) ET[j * V + A] = row[j];
  // ---- forward
  let x = saved[0].x;
  for (let i = 0; i < M; i++) x.set(tok[i] === A ? row : E.subarray(tok[i] * H, tok[i] * H + H), i * H);
  for (let l = 0; l < NL; l++) {
    const w = layers[l], s = saved[l];
    rmsFwd(s.x, w.ln1, M, hbuf, s.r1);
    mul(hbuf, w.qkv, w.qkvT, M, H, S3, s.qkv);
    ropeFwd(s.qkv, S3, 0); ropeFwd(s.qkv, S3, H);
    const qkv = s.qkv, P = s.P;
    ctx.fill(0);
    for (let b = 0; b < B; b++) {
      const n = len[b], r0 = off[b];
      for (let h = 0; h < NH; h++) {
        const po = pOff[b] + h * n * n;
        for (let t = 0; t < n; t++) {
          const qo = (r0 + t) * S3 + h * D, pr = po + t * n;
          let mx = -Infinity;
          for (let u = 0; u <= t; u++) {
            const ko = (r0 + u) * S3 + H + h * D;
            let d = 0;
            for (let j = 0; j < D; j++) d += qkv[qo + j] * qkv[ko + j];
            const v = f32(d) * scale;
            P[pr + u] = v;
            if (v > mx) mx = v;
          }
          let z = 0;
          for (let u = 0; u <= t; u++) { const e = Math.exp(P[pr + u] - mx); P[pr + u] = e; z += e; }
          const co = (r0 + t) * H + h * D;
          for (let u = 0; u <= t; u++) {
            const p = (P[pr + u] /= z), vo = (r0 + u) * S3 + 2 * H + h * D;
            for (let j = 0; j < D; j++) ctx[co + j] += p * qkv[vo + j];
          }
        }
      }
    }
    mul(ctx, w.o_proj, w.o_projT, M, H, H, tmp);
    for (let i = 0; i < M * H; i++) s.x2[i] = s.x[i] + tmp[i];
    rmsFwd(s.x2, w.ln2, M, hbuf, s.r2);
    mul(hbuf, w.gu, w.guT, M, H, 2 * FF, s.gu);
    for (let i = 0; i < M; i++) for (let j = 0; j < FF; j++) { const a = s.gu[i * 2 * FF + j]; mbuf[i * FF + j] = a * sig(a) * s.gu[i * 2 * FF + FF + j]; }
    mul(mbuf, w.down_proj, w.down_projT, M, FF, H, tmp);
    x = l + 1 < NL ? saved[l + 1].x : xF;
    for (let i = 0; i < M * H; i++) x[i] = s.x2[i] + tmp[i];
  }
  rmsFwd(xF, normW, M, hbuf, rF);
  for (let i = 0; i < N; i++) hs.set(hbuf.subarray(prow[i] * H, prow[i] * H + H), i * H);
  mul(hs, ET, E, N, H, V, logits);
  let loss = 0;
  const grad = new Float64Array(H);
  for (let i = 0; i < N; i++) {
    const o = i * V;
    let mx = -Infinity;
    for (let c = 0; c < V; c++) if (logits[o + c] > mx) mx = logits[o + c];
    let z = 0;
    for (let c = 0; c < V; c++) z += Math.exp(logits[o + c] - mx);
    loss += Math.log(z) + mx - logits[o + targets[i]];
    for (let c = 0; c < V; c++) logits[o + c] = Math.exp(logits[o + c] - mx) / z; // now dloss/dlogits
    logits[o + targets[i]] -= 1;
    const ga = logits[o + A];
    for (let j = 0; j < H; j++) grad[j] += ga * hs[i * H + j];
  }
  // ---- backward
  mul(logits, E, ET, N, V, H, dhs);
  dx.fill(0);
  tmpRows.fill(0);
  for (let i = 0; i < N; i++) for (let j = 0; j < H; j++) tmpRows[prow[i] * H + j] += dhs[i * H + j];
  rmsBwd(xF, normW, rF, tmpRows, dx, M, outRows);
  for (let l = NL - 1; l >= 0; l--) {
    const w = layers[l], s = saved[l];
    // MLP: dx is dL/dx3 = dL/dx2 through the residual
    mul(dx, w.down_projT, w.down_proj, M, H, FF, dm);
    for (let i = 0; i < M; i++) for (let j = 0; j < FF; j++) {
      const a = s.gu[i * 2 * FF + j], u = s.gu[i * 2 * FF + FF + j], sg = sig(a), d = dm[i * FF + j];
      dgu[i * 2 * FF + j] = d * u * sg * (1 + a * (1 - sg));
      dgu[i * 2 * FF + FF + j] = d * a * sg;
    }
    mul(dgu, w.guT, w.gu, M, 2 * FF, H, dh);
    rmsBwd(s.x2, w.ln2, s.r2, dh, dx, M);
    // attention
    mul(dx, w.o_projT, w.o_proj, M, H, H, dctx);
    dqkv.fill(0);
    const qkv = s.qkv, P = s.P;
    for (let b = 0; b < B; b++) {
      const n = len[b], r0 = off[b];
      for (let h = 0; h < NH; h++) {
        const po = pOff[b] + h * n * n;
        for (let t = 0; t < n; t++) {
          const co = (r0 + t) * H + h * D, pr = po + t * n, qo = (r0 + t) * S3 + h * D;
          const dP = new Float64Array(t + 1);
          let dot = 0;
          for (let u = 0; u <= t; u++) {
            const vo = (r0 + u) * S3 + 2 * H + h * D, p = P[pr + u];
            let d = 0;
            for (let j = 0; j < D; j++) { d += dctx[co + j] * qkv[vo + j]; dqkv[vo + j] += p * dctx[co + j]; }
            dP[u] = d; dot += p * d;
          }
          for (let u = 0; u <= t; u++) {
            const dS = P[pr + u] * (dP[u] - dot) * scale, ko = (r0 + u) * S3 + H + h * D;
            if (dS === 0) continue;
            for (let j = 0; j < D; j++) { dqkv[qo + j] += dS * qkv[ko + j]; dqkv[ko + j] += dS * qkv[qo + j]; }
          }
        }
      }
    }
    ropeBwd(dqkv, S3, 0); ropeBwd(dqkv, S3, H);
    mul(dqkv, w.qkvT, w.qkv, M, S3, H, dh);
    rmsBwd(s.x, w.ln1, s.r1, dh, dx, M);
  }
  for (let i = 0; i < M; i++) if (tok[i] === A) for (let j = 0; j < H; j++) grad[j] += dx[i * H + j];
  return { loss, grad: Float32Array.from(grad) };
}

const row = F.row;
let res = step(row); // warm-up
const ms = [];
for (let r = 0; r < reps; r++) {
  const t = performance.now();
  res = step(row);
  ms.push(performance.now() - t);
}
const median = [...ms].sort((a, b) => a - b)[ms.length >> 1];
console.log(JSON.stringify({ loss_sum: res.loss, grad_sum: Array.from(res.grad), ms, median_ms: median, tokens: M, full_tokens: B * L }));
