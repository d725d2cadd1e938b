// tokenizers.js (vendored) with one correction so it matches Python `tokenizers` exactly:
// its ByteLevel pre-tokenizer uses JavaScript's \s, which counts U+FEFF as whitespace and not U+0085,
// whereas the Rust regex uses Unicode White_Space (the reverse). The GPT-2 pattern is rebuilt here
// with the White_Space set spelled out. tests/test_demo_parity.py checks the result on 4000+ strings.
const WS = "\\t-\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
export const GPT2_PATTERN = new RegExp(
  `'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^${WS}\\p{L}\\p{N}]+|[${WS}]+(?![^${WS}])|[${WS}]+`,
  "gu",
);

/** Replace the pattern of every ByteLevel pre-tokenizer inside `tokenizer` (walks Sequences). */
export function fixByteLevel(tokenizer) {
  const seen = new Set();
  let fixed = 0;
  const visit = (o) => {
    if (!o || !["object", "function"].includes(typeof o) || seen.has(o)) return; // callable instances too
    seen.add(o);
    if (o.byte_encoder && o.pattern instanceof RegExp && o.use_regex !== undefined) {
      o.pattern = GPT2_PATTERN;
      fixed += 1;
    }
    for (const v of Array.isArray(o) ? o : Object.values(o)) visit(v);
  };
  visit(tokenizer.pre_tokenizer);
  if (!fixed) throw new Error("tokenizer.js: no ByteLevel pre-tokenizer found to correct");
  return tokenizer;
}
