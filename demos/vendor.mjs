// Copy the runtime files the demo serves from node_modules into docs/assets/vendor/ (committed).
// Only what the browser loads: onnxruntime-web's wasm-only ES module bundle + its one SIMD .wasm
// (used single-threaded), and tokenizers.js. Run with `npm run vendor` after `npm ci --ignore-scripts`.
import { copyFileSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(root, "docs", "assets", "vendor");
const nm = (p) => join(root, "node_modules", p);
const FILES = [
  ["onnxruntime-web/dist/ort.wasm.bundle.min.mjs", "onnxruntime-web/ort.wasm.bundle.min.mjs"],
  ["onnxruntime-web/dist/ort-wasm-simd-threaded.wasm", "onnxruntime-web/ort-wasm-simd-threaded.wasm"],
  // the Emscripten glue the 1.22 bundle imports at run time (later bundles inline it)
  ["onnxruntime-web/dist/ort-wasm-simd-threaded.mjs", "onnxruntime-web/ort-wasm-simd-threaded.mjs"],
  ["@huggingface/tokenizers/dist/tokenizers.min.mjs", "tokenizers/tokenizers.min.mjs"],
  ["@huggingface/tokenizers/LICENSE", "tokenizers/LICENSE"],
];

rmSync(out, { recursive: true, force: true });
const versions = {};
for (const [src, dst] of FILES) {
  mkdirSync(dirname(join(out, dst)), { recursive: true });
  copyFileSync(nm(src), join(out, dst));
  console.log(`${dst}  ${statSync(join(out, dst)).size} bytes`);
}
for (const pkg of ["onnxruntime-web", "@huggingface/tokenizers"]) {
  versions[pkg] = JSON.parse(readFileSync(nm(`${pkg}/package.json`), "utf8")).version;
}
// onnxruntime-web ships no LICENSE file in its npm package; its bundle header says MIT.
writeFileSync(join(out, "onnxruntime-web", "NOTICE"),
  `ONNX Runtime Web v${versions["onnxruntime-web"]}\nCopyright (c) Microsoft Corporation. All rights reserved.\nLicensed under the MIT License (https://github.com/microsoft/onnxruntime/blob/main/LICENSE).\n`);
writeFileSync(join(out, "VERSIONS.json"), JSON.stringify(versions, null, 2) + "\n");
