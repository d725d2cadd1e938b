// The runtime's .wasm (onnxruntime-web's WebAssembly), compiled by the page (demo.js) or, when the page could
// not, by a worker (worker.js). A failure is said in the reader's words (RuntimeLoadError: missing file,
// blocked by the page's security policy, no WebAssembly, damaged file, network) instead of being left to
// onnxruntime-web, whose own attempt ends in an Emscripten abort and a session that never answers.

export const RUNTIME_FILE = "ort-wasm-simd-threaded.wasm";

export class RuntimeLoadError extends Error {
  /** `definitive`: a worker would fail the same way (no point in trying there). */
  constructor(why, definitive) {
    super(`The model's runtime (onnxruntime-web's WebAssembly) could not load: ${why}.`);
    this.name = "RuntimeLoadError";
    this.definitive = definitive;
  }
}

const blockedByPolicy = (e) => /Content Security Policy|wasm-unsafe-eval|unsafe-eval|Refused to compile/i.test(String(e?.message || e));

/** The compiled WebAssembly.Module of `url`, or throws a RuntimeLoadError. */
export async function compileRuntime(url) {
  if (typeof WebAssembly !== "object" || typeof WebAssembly.compile !== "function") {
    throw new RuntimeLoadError("this browser has no WebAssembly", true);
  }
  // a `securitypolicyviolation` for "wasm-eval" says it too, where an engine's message does not
  let violation = false;
  const onViolation = (e) => { if (/wasm|eval/i.test(`${e.blockedURI} ${e.effectiveDirective}`)) violation = true; };
  const target = self.document || self;
  target.addEventListener?.("securitypolicyviolation", onViolation);
  // not definitive in the page: a worker runs under its own script's policy, which may allow it
  const blocked = () => new RuntimeLoadError(
    "the page's security policy (Content-Security-Policy) does not allow WebAssembly ('wasm-unsafe-eval')", false);
  try {
    try {
      return await WebAssembly.compileStreaming(fetch(url, { credentials: "same-origin" }));
    } catch (e) {
      if (blockedByPolicy(e)) throw blocked();
    }
    // a server without the application/wasm type (no streaming), or a file that is not there
    let res;
    try {
      res = await fetch(url, { credentials: "same-origin" });
    } catch (e) {
      throw new RuntimeLoadError(`its file ${RUNTIME_FILE} could not be downloaded (${e.message || e})`, false);
    }
    if (!res.ok) throw new RuntimeLoadError(`its file ${RUNTIME_FILE} is missing (HTTP ${res.status})`, true);
    const bytes = await res.arrayBuffer();
    try {
      return await WebAssembly.compile(bytes);
    } catch (e) {
      if (blockedByPolicy(e) || violation) throw blocked();
      throw new RuntimeLoadError(`its file ${RUNTIME_FILE} is damaged (${e.message || e})`, true);
    }
  } catch (e) {
    if (violation && !(e instanceof RuntimeLoadError && e.definitive)) throw blocked();
    throw e instanceof RuntimeLoadError ? e : new RuntimeLoadError(String(e?.message || e), false);
  } finally {
    target.removeEventListener?.("securitypolicyviolation", onViolation);
  }
}

/** onnxruntime-web compiles its .wasm itself (instantiateStreaming) and takes no compiled module: it is given an 8-byte
 * placeholder as `wasmBinary` (`env`: its `ort.env.wasm`), and its one WebAssembly.instantiate() call on it is
 * answered with `module`, whose machine code the page's workers then share. `onShared()` hears that call. */
export function useCompiledModule(env, module, onShared = () => {}) {
  const placeholder = new ArrayBuffer(8);
  const instantiate = WebAssembly.instantiate;
  WebAssembly.instantiate = function (source, imports) {
    if (source && source.buffer === placeholder) {
      onShared();
      return instantiate(module, imports).then((instance) => ({ module, instance }));
    }
    return instantiate.apply(this, arguments);
  };
  env.wasmBinary = placeholder;
}
