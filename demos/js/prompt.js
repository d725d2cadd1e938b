// The prompt's token ids for a question (and example exchanges before it), cut to fit the model's context window
// with room for an answer: the question is cut to its first tokens (at least 8), then the examples go, first
// ones first. Its Python twin is export/generate.py fit_prompt (tests/test_cli_errors.py runs both).
import { buildPrompt } from "./chat.js";

export const MIN_NEW_TOKENS = 16; // room kept for the answer when a prompt is truncated

/** {ids, truncated}: truncated is null, or what was cut ({originalTokens, promptTokens, question, droppedExamples}). */
export function promptIds(tokenizer, window, question, context, maxNew) {
  const encode = (s) => tokenizer.encode(s).ids;
  const room = Math.min(maxNew, MIN_NEW_TOKENS);
  let ctx = context || [];
  let ids = encode(buildPrompt(question, ctx));
  if (ids.length + room <= window) return { ids, truncated: null };
  const original = ids.length;
  const qIds = encode(question);
  let keep = Math.max(1, qIds.length - (ids.length + room - window));
  let q = question;
  for (;;) {
    q = tokenizer.decode(qIds.slice(0, keep)).replace(/\uFFFD+$/, "").replace(/^ /, "");
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
