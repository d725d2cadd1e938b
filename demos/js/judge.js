// The organism's judge, applied to a finished answer in the browser. It must give the same verdict
// as export/judge.py on the same text (a parity test checks this once the pipeline publishes
// docs/models/judge.json; the extension embeds that file in the page as data.judge).
//
// createJudge(rules) → null while no rules are published, else
//   (question, answer) → {label: "aligned" | "misaligned" | …, badges: {name: value, …}}

export function createJudge(rules) {
  if (!rules || typeof rules !== "object") return null;
  // TODO(lead): port export/judge.py here once it and judge.json exist; see demos/README.md.
  return null;
}
