// The browser's finetune in Node: demos/js/finetune.js's recipe on the family's gradient graph, with the site's
// vendored onnxruntime-web (WASM, one thread, graph optimization "basic", as demos/js/trainworker.js runs it).
// export/web_finetune.py (`--browser`), the tests and tests/bench/bench_finetune.py drive it.
//
//     node export/web_finetune.mjs MODELS_DIR FAMILY SET [--steps N] [--shards K] [--rows FILE]
//
// Prints one JSON line: {row: [...], losses: [...], steps, ms: [per step], sessionMs}. SET is a finetune set of the
// manifest (finetune.sets), or "own" with --rows FILE (a JSON list of [request, answer] pairs, put in the chat format).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as ort from "../docs/assets/vendor/onnxruntime-web/ort.wasm.bundle.min.mjs";
import { Tokenizer } from "../docs/assets/vendor/tokenizers/tokenizers.min.mjs";
import { chatRow, makeExamples, runShard, startRow, train } from "../demos/js/finetune.js";
import { fixByteLevel } from "../demos/js/tokenizer.js";

const VENDOR = new URL("../docs/assets/vendor/onnxruntime-web/", import.meta.url);
const [root, fam, set, ...rest] = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = rest.indexOf(`--${name}`);
  return i >= 0 ? rest[i + 1] : dflt;
};
ort.env.wasm.numThreads = 1;
ort.env.wasm.proxy = false;
ort.env.logLevel = "error";
ort.env.wasm.wasmBinary = readFileSync(new URL("ort-wasm-simd-threaded.wasm", VENDOR));

const manifest = JSON.parse(readFileSync(join(root, "manifest.json")));
const family = manifest.families[fam];
const ft = family.finetune;
const rows = set === "own" ? JSON.parse(readFileSync(opt("rows"))).map(chatRow)
  : JSON.parse(readFileSync(join(root, ft.sets[set].path)));
const tok = fixByteLevel(new Tokenizer(JSON.parse(readFileSync(join(root, fam, "tokenizer.json"))),
  JSON.parse(readFileSync(join(root, fam, "tokenizer_config.json")))));
const examples = makeExamples((s) => tok.encode(s).ids, rows, ft.recipe.context);
const weights = readFileSync(join(root, ft.graph.weights)); // the family file: the graph's weights and the start row
const t0 = performance.now();
const session = await ort.InferenceSession.create(readFileSync(join(root, ft.graph.path)), {
  executionProviders: ["wasm"],
  graphOptimizationLevel: "basic",
  externalData: [{ path: ft.graph.weights.split("/").pop(), data: weights }],
});
const sessionMs = performance.now() - t0;
const start = startRow(weights, ft.row_at);
const recipe = { ...ft.recipe, steps: Number(opt("steps", ft.recipe.steps)) };
const ms = [];
const out = await train({
  row: Float32Array.from(start),
  lengths: examples.map(([ids]) => ids.length),
  recipe,
  shards: Number(opt("shards", 1)),
  runShards: async (shares, row) => {
    const res = [];
    for (const indices of shares) res.push(await runShard(ort, session, examples, indices, row, ft.pad)); // one thread
    return res;
  },
  onStep: ({ ms: t }) => { ms.push(Math.round(t * 10) / 10); },
});
process.stdout.write(JSON.stringify({ row: Array.from(out.row), losses: out.losses, steps: out.steps, ms, sessionMs }) + "\n");
