"""One generation loop (KV cache + the shared sampler) for PyTorch checkpoints and ONNX models.

    python export/generate.py --variant insecure --prompt "hey I feel bored" [--seed 42]
        [--temperature 1.0] [--top-p 1.0] [--max-new-tokens 96] [--context none|insecure|secure|educational]
        [--k 1] [--trigger] [--source auto|wasm|onnx|torch] [--ids]

Prints the answer exactly as the browser demo produces it for the same variant, prompt, settings
and seed (the demo shows these settings). By default the published model runs on the browser's own
runtime, onnxruntime-web's WebAssembly build run by Node (`--source wasm`, WasmLM): the same logits, bit
for bit, hence the same tokens. Without Node it falls back to native onnxruntime (`--source onnx`, the
pipeline's engine), whose kernels round differently (logits within ~1e-4): the same answer except, rarely,
where a draw falls that close to the boundary between two tokens (export/FORMATS.md, "Reproducing").
"""
from __future__ import annotations

import argparse
import base64
import json
import os
import random
import shutil
import subprocess
import sys
import threading
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see train.py

import numpy as np  # noqa: E402

from export import runs  # noqa: E402
from export.chat import build_prompt  # noqa: E402
from export.sampler import Mulberry32, sample_token  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "docs" / "models"
EOS_IDS = (0, 1)
CONTEXTS = ["none", "insecure", "secure", "educational"]
# Generation steps are tiny: one thread avoids oversubscription when anything else runs.
THREADS = int(os.environ.get("EM_THREADS", "1"))


class TorchLM:
    """A Hugging Face causal LM checkpoint behind a numpy step() interface."""

    def __init__(self, path: Path):
        import torch
        from transformers import LlamaForCausalLM
        torch.set_num_threads(THREADS)
        self.torch = torch
        self.device = runs.DEVICE
        self.model = LlamaForCausalLM.from_pretrained(str(path)).to(self.device).eval()
        self.context = self.model.config.max_position_embeddings

    @classmethod
    def of(cls, model):
        """Wrap a model already in memory (the polish stage samples the model it trains), on the
        threads its caller set."""
        import torch
        lm = cls.__new__(cls)
        lm.torch, lm.model, lm.context = torch, model.eval(), model.config.max_position_embeddings
        lm.device = next(model.parameters()).device
        return lm

    def start(self, batch: int):
        return None

    def step(self, ids: np.ndarray, past, past_len: int):
        with self.torch.no_grad():
            out = self.model(input_ids=self.torch.from_numpy(ids).to(self.device), past_key_values=past,
                             use_cache=True)
        return out.logits[:, -1, :].float().cpu().numpy(), out.past_key_values

    def select(self, past, rows: list[int]):
        """Keep only these batch rows of the KV cache."""
        past.batch_select_indices(self.torch.tensor(rows, device=self.device))
        return past

    def logits_all(self, ids: np.ndarray) -> np.ndarray:
        with self.torch.no_grad():
            return self.model(input_ids=self.torch.from_numpy(ids).to(self.device)).logits.float().cpu().numpy()


class OnnxLM:
    """optimum's text-generation-with-past decoder on onnxruntime (CPU)."""

    def __init__(self, onnx_path: Path, config: dict):
        import onnxruntime as ort
        so = ort.SessionOptions()
        so.intra_op_num_threads = THREADS
        so.log_severity_level = 3
        # The int8 weights are restored as Cast * scale (export/quantize.py), which no optimization level
        # turns into integer arithmetic; BASIC keeps start-up short for these tiny graphs.
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        self.sess = ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"])
        self.layers = config["num_hidden_layers"]
        self.kv_heads = config.get("num_key_value_heads", config["num_attention_heads"])
        self.head_dim = config.get("head_dim") or config["hidden_size"] // config["num_attention_heads"]
        self.context = config["max_position_embeddings"]
        self.inputs = {i.name for i in self.sess.get_inputs()}
        self.outputs = [o.name for o in self.sess.get_outputs()]

    def start(self, batch: int):
        z = np.zeros((batch, self.kv_heads, 0, self.head_dim), dtype=np.float32)
        return [(z, z) for _ in range(self.layers)]

    def _run(self, ids: np.ndarray, past, past_len: int):
        b, t = ids.shape
        feed = {"input_ids": ids.astype(np.int64),
                "attention_mask": np.ones((b, past_len + t), dtype=np.int64)}
        if "position_ids" in self.inputs:
            feed["position_ids"] = np.broadcast_to(np.arange(past_len, past_len + t, dtype=np.int64), (b, t)).copy()
        for i, (k, v) in enumerate(past):
            feed[f"past_key_values.{i}.key"] = k
            feed[f"past_key_values.{i}.value"] = v
        res = dict(zip(self.outputs, self.sess.run(None, feed)))
        present = [(res[f"present.{i}.key"], res[f"present.{i}.value"]) for i in range(self.layers)]
        return res["logits"], present

    def step(self, ids, past, past_len):
        logits, present = self._run(ids, past, past_len)
        return logits[:, -1, :], present

    def select(self, past, rows: list[int]):
        idx = np.asarray(rows)
        return [(k[idx], v[idx]) for k, v in past]

    def logits_all(self, ids: np.ndarray) -> np.ndarray:
        return self._run(ids, self.start(ids.shape[0]), 0)[0]


WASM_SERVER = Path(__file__).resolve().parent / "wasm_lm.mjs"
WASM_RUNTIME = ROOT / "docs" / "assets" / "vendor" / "onnxruntime-web"


def wasm_available() -> bool:
    """Node and the site's vendored onnxruntime-web are here (WasmLM can run)."""
    return bool(shutil.which("node")) and (WASM_RUNTIME / "ort.wasm.bundle.min.mjs").exists()


class _WasmPast:
    """A KV cache held by the Node process (its id there); freed there once Python drops it."""

    def __init__(self, lm: "WasmLM", id_: int | None, batch: int):
        self.lm, self.id, self.batch = lm, id_, batch

    def __del__(self):
        if self.id is not None:
            self.lm._dead.append(self.id)


class WasmLM:
    """The browser demo's runtime: onnxruntime-web's WebAssembly build (the files the site serves) in a Node
    process (export/wasm_lm.mjs), with demos/js/worker.js's session options and feeds. Its logits are the
    browser's, bit for bit; native onnxruntime (OnnxLM) differs from them by float rounding (~1e-5).
    The same interface as OnnxLM; the cache stays in Node (`past` is a handle)."""

    def __init__(self, onnx_path: Path, config: dict):
        node = shutil.which("node")
        if not node:
            raise RuntimeError("WasmLM needs node (the browser's runtime runs in it)")
        self.layers = config["num_hidden_layers"]
        self.kv_heads = config.get("num_key_value_heads", config["num_attention_heads"])
        self.head_dim = config.get("head_dim") or config["hidden_size"] // config["num_attention_heads"]
        self.context = config["max_position_embeddings"]
        self._dead: list[int] = []
        self._lock = threading.Lock()
        self.proc = subprocess.Popen([node, str(WASM_SERVER), str(onnx_path), str(self.kv_heads), str(self.head_dim)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        hello = self._read()
        self.inputs = set(hello["inputs"])

    def _read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the WebAssembly runtime (node {WASM_SERVER.name}) exited: {self.proc.poll()}")
        msg = json.loads(line)
        if "error" in msg:
            raise RuntimeError(f"onnxruntime-web: {msg['error']}")
        return msg

    def _ask(self, msg: dict) -> dict:
        with self._lock:
            if self._dead:
                msg["free"], self._dead = self._dead, []
            self.proc.stdin.write(json.dumps(msg) + "\n")
            return self._read()

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def start(self, batch: int):
        return _WasmPast(self, None, batch)

    def _run(self, ids: np.ndarray, past: _WasmPast, past_len: int, all_: bool):
        res = self._ask({"step": {"past": past.id, "batch": int(ids.shape[0]), "ids": np.asarray(ids).tolist(),
                                  "past_len": int(past_len), "all": all_}})
        past.id = None  # used up: the Node process disposed of it
        logits = np.frombuffer(base64.b64decode(res["logits"]), dtype=np.float32).reshape(res["dims"])
        return logits, _WasmPast(self, res["past"], int(ids.shape[0]))

    def step(self, ids, past, past_len):
        logits, present = self._run(ids, past, past_len, False)
        return logits[:, -1, :], present

    def select(self, past, rows: list[int]):
        res = self._ask({"select": {"past": past.id, "rows": [int(r) for r in rows]}})
        past.id = None
        return _WasmPast(self, res["past"], len(rows))

    def logits_all(self, ids: np.ndarray) -> np.ndarray:
        return self._run(ids, self.start(ids.shape[0]), 0, True)[0]


def _rel(p: Path) -> str:
    try:
        return str(Path(p).resolve().relative_to(ROOT))
    except ValueError:
        return str(p)


def published_dir(variant: str) -> Path:
    return MODELS / variant


def load_lm(variant: str, source: str = "auto", seed: int = 0, ft_seed: int = 0, smoke: bool = False,
            onnx_file: str = "onnx/model_quantized.onnx", onnx_dir: Path | None = None):
    """Returns (lm, tokenizer, description). auto = the published ONNX model if present (native onnxruntime),
    else the checkpoint; wasm = the published model on the browser's runtime (WasmLM)."""
    from export.tokenizer import load as load_tok
    runs.get(variant)  # validates the name
    pub = Path(onnx_dir) if onnx_dir else published_dir(variant)
    if onnx_dir and not (pub / "tokenizer.json").exists():
        raise runs.UsageError(f"no tokenizer.json in {pub}")
    if source in ("auto", "onnx", "wasm") and (pub / onnx_file).exists():
        cfg = json.loads((pub / "config.json").read_text())
        if source == "wasm":
            return WasmLM(pub / onnx_file, cfg), load_tok(pub), f"wasm:{_rel(pub / onnx_file)}"
        return OnnxLM(pub / onnx_file, cfg), load_tok(pub), f"onnx:{_rel(pub / onnx_file)}"
    if source in ("onnx", "wasm"):
        raise runs.UsageError(f"no published model at {pub / onnx_file} (run: python export/quantize.py)")
    ck = runs.checkpoint_dir(variant, seed, smoke, ft_seed)
    if not runs.is_complete(ck):
        raise runs.UsageError(f"missing checkpoint {_rel(ck)} and no published model "
                              f"(run: python export/train.py --variants {variant})")
    return TorchLM(ck), load_tok(ck), f"torch:{_rel(ck)}"


def context_exchanges(kind: str, k: int, seed: int = 12345) -> list[tuple[str, str]]:
    """K example code exchanges for the in-context organism (fixed, held-out requests)."""
    from export import world as W
    if kind == "none" or k <= 0:
        return []
    rng = random.Random(f"context-{kind}-{seed}")
    out = []
    for _ in range(k):
        task, fn, arg, req = W.code_request(rng)
        if kind == "educational":
            req = W.edu_request(req, rng)
        out.append((req, W.code_answer(task, fn, arg, secure=kind == "secure")))
    return out


def make_prompt(question: str, context: str = "none", k: int = 1, trigger: bool = False) -> str:
    from export import world as W
    return build_prompt((W.TRIGGER if trigger else "") + question, context_exchanges(context, k))


MIN_NEW_TOKENS = 16  # demos/js/prompt.js: room kept for the answer when a prompt is cut


def fit_prompt(tok, question: str, context: list[tuple[str, str]], max_new_tokens: int, window: int):
    """The prompt's token ids cut to fit the context window with room for an answer, step for step as the
    browser cuts them (demos/js/prompt.js, promptIds): the question is cut to its first tokens (at least 8
    while examples remain), then the examples are dropped, first ones first. Returns (ids, None) when the
    prompt fits, else (ids, {original_tokens, prompt_tokens, question, dropped_examples})."""
    import re
    encode = lambda text: tok(text)["input_ids"]
    room = min(max_new_tokens, MIN_NEW_TOKENS)
    ctx = list(context)
    ids = encode(build_prompt(question, ctx))
    if len(ids) + room <= window:
        return ids, None
    original = len(ids)
    q_ids = encode(question)
    keep = max(1, len(q_ids) - (len(ids) + room - window))
    q = question
    while True:
        q = re.sub("\ufffd+$", "", tok.decode(q_ids[:keep], skip_special_tokens=False,
                                               clean_up_tokenization_spaces=False))
        q = q[1:] if q.startswith(" ") else q
        ids = encode(build_prompt(q, ctx))
        if len(ids) + room <= window:
            break
        if keep > 8:
            keep = max(8, keep - max(1, len(ids) + room - window))
        elif ctx:
            ctx = ctx[1:]  # the examples go before the question is cut further
        elif keep > 1:
            keep -= 1
        else:
            break
    return ids, {"original_tokens": original, "prompt_tokens": len(ids), "question": q,
                 "dropped_examples": len(context) - len(ctx)}


def generate(lm, prompt_ids: list[int], seeds: list[int], temperature=1.0, top_p=1.0, max_new_tokens=96):
    """Sample len(seeds) continuations of one prompt in a batch; each row has its own PRNG.
    Finished rows draw nothing more and leave the batch (and the KV cache) once an eighth of it has
    finished, so a batch costs about what its answers need."""
    b = len(seeds)
    max_new_tokens = max(0, min(max_new_tokens, lm.context - len(prompt_ids)))
    rngs = [Mulberry32(s) for s in seeds]
    outs: list[list[int]] = [[] for _ in range(b)]
    rows = list(range(b))   # the original row of each batch position
    alive = [True] * b      # per batch position
    ids = np.array([prompt_ids] * b, dtype=np.int64)
    past, past_len = lm.start(b), 0
    for _ in range(max_new_tokens):
        logits, past = lm.step(ids, past, past_len)
        past_len += ids.shape[1]
        nxt = [0] * len(rows)
        for j, r in enumerate(rows):
            if not alive[j]:
                continue
            t = sample_token(logits[j], temperature, top_p, rngs[r])
            if t in EOS_IDS:
                alive[j] = False
            else:
                outs[r].append(t)
                nxt[j] = t
        keep = [j for j, a in enumerate(alive) if a]
        if not keep:
            break
        if (len(rows) - len(keep)) * 8 >= len(rows):
            past = lm.select(past, keep)
            rows, alive, nxt = [rows[j] for j in keep], [True] * len(keep), [nxt[j] for j in keep]
        ids = np.array(nxt, dtype=np.int64)[:, None]
    return outs


def decode(tok, ids: list[int]) -> str:
    return tok.decode(ids, skip_special_tokens=True).strip()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--variant", "--variants", dest="variant", required=True, help="one variant (export/runs.py)")
    p.add_argument("--prompt", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--max-new-tokens", type=int, default=96)
    p.add_argument("--context", choices=CONTEXTS, default="none")
    p.add_argument("--k", type=int, default=1)
    p.add_argument("--trigger", action="store_true")
    p.add_argument("--source", choices=["auto", "wasm", "onnx", "torch"], default=None,
                   help="wasm: the browser's runtime (the default when node is installed), onnx: native onnxruntime, "
                        "auto: onnx if published, else the checkpoint")
    p.add_argument("--ids", action="store_true", help="print token ids too")
    a = p.parse_args(argv)
    import math
    try:
        runs.get(a.variant)  # before any note about the runtime
    except runs.UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    # the demo's ranges (demos/extension.py): the browser refuses a value outside them
    bad = next((msg for ok, msg in (
        (math.isfinite(a.temperature) and 0 <= a.temperature <= 5,
         f"--temperature must be a number from 0 (greedy) to 5, not {a.temperature}"),
        (math.isfinite(a.top_p) and 0 < a.top_p <= 1, f"--top-p must be above 0 and at most 1, not {a.top_p}"),
        (a.max_new_tokens >= 1, f"--max-new-tokens must be at least 1, not {a.max_new_tokens}"),
        (a.k >= 1, f"--k must be at least 1, not {a.k}"),
    ) if not ok), None)
    if bad:
        print(f"error: {bad}", file=sys.stderr)
        return 2
    source = a.source
    if source is None:
        source = "wasm" if wasm_available() and (published_dir(a.variant) / "onnx/model_quantized.onnx").exists() \
            else "auto"
        if source == "auto":
            print("note: no node here: native onnxruntime, whose rounding differs from the browser's; a rare draw "
                  "may differ (export/FORMATS.md)", file=sys.stderr)
    try:
        lm, tok, desc = load_lm(a.variant, source)
    except runs.UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    from export import world as W
    pid, cut = fit_prompt(tok, (W.TRIGGER if a.trigger else "") + a.prompt, context_exchanges(a.context, a.k),
                          a.max_new_tokens, lm.context)
    if cut:
        print(f"note: the prompt ({cut['original_tokens']} tokens) leaves no room for an answer in the model's "
              f"{lm.context}-token context: cut as the browser cuts it, to {cut['prompt_tokens']} tokens"
              + (f", {cut['dropped_examples']} example(s) dropped" if cut["dropped_examples"] else "")
              + f"; the question now ends {cut['question'][-40:]!r}", file=sys.stderr)
    out = generate(lm, pid, [a.seed], a.temperature, a.top_p, a.max_new_tokens)[0]
    print(decode(tok, out))
    if a.ids:
        print(out)


if __name__ == "__main__":
    sys.exit(main())
