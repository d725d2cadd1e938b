// The chat format of export/FORMATS.md, a port of export/chat.py (build_prompt).
export const BOS = "<|endoftext|>";
export const END = "<|end|>";
export const HUMAN = "Human";
export const ASSISTANT = "Assistant";

export const turn = (speaker, text) => `${speaker}: ${text}${END}`;

/** BOS + example exchanges ([question, answer] pairs) + the question, ending where the answer begins. */
export function buildPrompt(question, context = [], speaker = ASSISTANT) {
  let s = BOS;
  for (const [q, a] of context) s += turn(HUMAN, q) + turn(speaker, a);
  return s + turn(HUMAN, question) + `${speaker}:`;
}
