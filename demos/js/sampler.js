// The one sampling algorithm, a line-by-line port of export/sampler.py (see export/FORMATS.md).
// mulberry32 on a 32-bit unsigned state; temperature + top-p computed in float64 (JS numbers)
// from float32 logits, with the same operations in the same order as the Python reference.

export class Mulberry32 {
  constructor(seed) {
    // seed & 0xFFFFFFFF for any integer-valued Number (also beyond 2**32 and negative).
    this.state = Number(BigInt.asUintN(32, BigInt(Math.trunc(seed))));
  }

  nextU32() {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1) >>> 0;
    t = (t ^ ((t + Math.imul(t ^ (t >>> 7), t | 61)) >>> 0)) >>> 0;
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Uniform in [0, 1). */
  random() {
    return this.nextU32() / 4294967296.0;
  }
}

/**
 * Pick one token id from float logits (Float32Array or array, length = vocab size).
 * temperature <= 0: greedy (argmax, lowest id on ties), no draw. Otherwise exactly one draw.
 */
export function sampleToken(logits, temperature, topP, rng) {
  const n = logits.length;
  if (temperature <= 0) {
    let best = -Infinity;
    let bestI = 0;
    for (let i = 0; i < n; i++) {
      const v = logits[i];
      if (v > best) {
        best = v;
        bestI = i;
      }
    }
    return bestI;
  }
  const invT = 1.0 / temperature;
  const z = new Float64Array(n);
  for (let i = 0; i < n; i++) z[i] = logits[i] * invT;
  let m = z[0]; // Python's max(z): the first maximum
  for (let i = 1; i < n; i++) if (z[i] > m) m = z[i];
  const w = new Float64Array(n);
  for (let i = 0; i < n; i++) w[i] = Math.exp(z[i] - m);
  let total = 0.0;
  for (let i = 0; i < n; i++) total += w[i];
  const order = descendingOrder(w);
  const kept = [];
  let cum = 0.0;
  const limit = topP * total;
  for (const i of order) {
    kept.push(i);
    cum += w[i];
    if (cum >= limit) break;
  }
  const u = rng.random();
  const target = u * cum;
  let acc = 0.0;
  for (const i of kept) {
    acc += w[i];
    if (acc > target) return i;
  }
  return kept[kept.length - 1];
}

/**
 * Token ids by descending weight, ties by ascending id: the order of a stable sort on -w (Python's
 * np.argsort(-w, kind="stable")). The weights are sorted as numbers by the engine's native typed-array sort;
 * each id then goes to the slot after the weights greater than its own (a binary search), in id order, so
 * equal weights keep ascending ids. A comparator sort over an index array took ~0.7 ms per token for a 2.4k
 * vocabulary, as long as a decoder step (tests/test_demo_parity.py checks the order on 1500 cases).
 */
export function descendingOrder(w) {
  const n = w.length;
  const sorted = Float64Array.from(w).sort(); // ascending
  const order = new Int32Array(n);
  const placed = new Int32Array(n); // ids already placed in the group that starts at each slot
  for (let i = 0; i < n; i++) {
    const v = w[i];
    let lo = 0;
    let hi = n;
    while (lo < hi) { // lo = the number of weights <= v
      const mid = (lo + hi) >>> 1;
      if (sorted[mid] > v) hi = mid;
      else lo = mid + 1;
    }
    const start = n - lo; // the number of weights > v
    order[start + placed[start]++] = i;
  }
  return order;
}
