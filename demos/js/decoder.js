// The decoder's feeds and KV cache, shared by the browser's worker (worker.js) and by Python's copy of the browser
// runtime (export/wasm_lm.mjs), so that both build the very same inputs (export/FORMATS.md): `ort` is the caller's
// onnxruntime-web module, `past` an object {past_key_values.i.key|value: Tensor [batch, kv_heads, length, head_dim]}.

/** An empty cache for `batch` rows. */
export function emptyPast(ort, pastNames, kvHeads, headDim, batch = 1) {
  const past = {};
  for (const n of pastNames) past[n] = new ort.Tensor("float32", new Float32Array(0), [batch, kvHeads, 0, headDim]);
  return past;
}

/** The feeds of one decoder step: `rows` (one array of token ids per row, all of one length) after `pastLen` cached
 * positions, in this order: the cache, input_ids, attention_mask, position_ids (when the model takes them). */
export function stepFeeds(ort, rows, past, pastLen, hasPositions) {
  const b = rows.length;
  const n = rows[0].length;
  const feeds = { ...past };
  const ids = new BigInt64Array(b * n);
  rows.forEach((r, i) => { for (let j = 0; j < n; j++) ids[i * n + j] = BigInt(r[j]); });
  feeds.input_ids = new ort.Tensor("int64", ids, [b, n]);
  feeds.attention_mask = new ort.Tensor("int64", new BigInt64Array(b * (pastLen + n)).fill(1n), [b, pastLen + n]);
  if (hasPositions) {
    const pos = new BigInt64Array(b * n);
    for (let i = 0; i < b * n; i++) pos[i] = BigInt(pastLen + (i % n));
    feeds.position_ids = new ort.Tensor("int64", pos, [b, n]);
  }
  return feeds;
}

/** A step's outputs "present.*" as the next step's cache "past_key_values.*". */
export function nextPast(out, pastNames) {
  const next = {};
  for (const name of pastNames) next[name] = out[name.replace("past_key_values", "present")];
  return next;
}

/** The cache of the rows `keep` (indices into the batch; one may repeat) as a new batch; the old one is released. */
export function keepRows(ort, past, keep) {
  const next = {};
  for (const [name, t] of Object.entries(past)) {
    const [, h, len, d] = t.dims;
    const per = h * len * d;
    const data = new Float32Array(keep.length * per);
    keep.forEach((r, i) => data.set(t.data.subarray(r * per, (r + 1) * per), i * per));
    next[name] = new ort.Tensor("float32", data, [keep.length, h, len, d]);
    t.dispose?.();
  }
  return next;
}
