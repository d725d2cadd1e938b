"""Helpers for the demo tests (tests/test_demo_*.py): fixture models, a site built against them,
a local server for it, and the Python reference generation loop the browser must match."""
from __future__ import annotations

import hashlib
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

from export import generate as G  # noqa: E402

_models: dict[str, Path] = {}


def fixture_models(tmp_root: Path) -> Path:
    """Build the throwaway models once per test process (tests/fixture_model.py), in a temp dir."""
    if "dir" not in _models:
        sys.path.insert(0, str(ROOT / "tests"))
        import fixture_model

        _models["dir"] = fixture_model.build(Path(tmp_root) / "fixture-models")
    return _models["dir"]


def unpublished_sha256(name: str) -> str:
    """A sha256 that no published file has (the demo keeps files by content: a sha256 it already holds
    would be served from what it holds, whatever the server has)."""
    return hashlib.sha256(f"never published: {name}".encode()).hexdigest()


def add_broken_variant(models: Path, name: str = "broken", source: str = "insecure") -> None:
    """A variant whose model file is corrupted after the manifest recorded its sha256 (one of its own)."""
    shutil.copytree(models / source, models / name)
    onnx = models / name / "onnx" / "model_quantized.onnx"
    data = bytearray(onnx.read_bytes())
    for i in range(len(data) // 2, len(data) // 2 + 64):
        data[i] ^= 0xFF
    onnx.write_bytes(bytes(data))
    manifest = json.loads((models / "manifest.json").read_text())
    entry = json.loads(json.dumps(manifest["variants"][source]))
    entry["title"] = "Corrupted copy (test)"
    entry.pop("patch", None)
    for f in entry["files"]:
        if f["path"] == entry["model"]:
            f["sha256"] = unpublished_sha256(name)
    manifest["variants"][name] = entry
    (models / "manifest.json").write_text(json.dumps(manifest, indent=2))


class Server:
    """A local static server (conftest's handler: same MIME types, quiet) on 127.0.0.1."""

    def __init__(self, root: Path | None = None):
        from conftest import _Handler

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.root = root
        self.thread = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/"

    def start(self, root: Path) -> "Server":
        self.httpd.root = root
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def build_site(out: Path, models: Path, site_url: str, questions: Path | None = None) -> Path:
    """`mkdocs build --strict` of the real site with the demo pointed at `models`, which are then
    published under <site>/models/ (the real docs/models/, if any, are replaced)."""
    from results_fixture import results_env  # the organism page needs results (synthetic if none yet)

    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "SITE_URL": site_url, "DEMO_MODELS_DIR": str(models),
           **results_env(out.parent)}
    env["DEMO_QUESTIONS_FILE"] = str(questions or models / "questions.yaml")  # ids that samples.json uses
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--clean", "--site-dir", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"mkdocs build failed:\n{proc.stdout}{proc.stderr}")
    shutil.rmtree(out / "models", ignore_errors=True)
    shutil.copytree(models, out / "models")
    return out


# ------------------------------------------------------------------------ reference generation
class OnnxModel:
    """The Python side of the parity tests: the pipeline's own generation loop (export/generate.py: KV cache,
    export/sampler.py, Python `tokenizers`) on one published variant folder, its model run by the browser's
    runtime (engine "wasm": onnxruntime-web's WebAssembly build in Node, export/generate.py WasmLM, the logits
    of the browser bit for bit) when node is here, else by native onnxruntime at ORT_ENABLE_BASIC ("native",
    export/generate.py OnnxLM: the same logits within float rounding, so a sampled answer may part, rarely)."""

    _engines: dict[tuple, object] = {}  # one runtime per model file and engine (a Node process each), reused

    def __init__(self, variant_dir: Path, engine: str | None = None):
        from tokenizers import Tokenizer

        self.dir = Path(variant_dir)
        self.engine = engine or ("wasm" if G.wasm_available() else "native")
        self.tok = Tokenizer.from_file(str(self.dir / "tokenizer.json"))
        cfg = json.loads((self.dir / "config.json").read_text())
        onnx = self.dir / "onnx" / "model_quantized.onnx"
        st = onnx.stat()
        key = (str(onnx.resolve()), st.st_size, st.st_mtime_ns, self.engine)
        if key not in self._engines:
            self._engines[key] = (G.WasmLM if self.engine == "wasm" else G.OnnxLM)(onnx, cfg)
        self.lm = self._engines[key]
        self.context = self.lm.context

    def generate(self, prompt: str, *, temperature=0.0, top_p=1.0, max_new_tokens=32, seed=0):
        out = G.generate(self.lm, self.tok.encode(prompt).ids, [seed], temperature, top_p, max_new_tokens)[0]
        return out, self.tok.decode(out, skip_special_tokens=True).strip()  # as export/generate.py decode()


NODE = shutil.which("node")


def run_node(script: str, payload, tmp_path: Path):
    """Run an ES-module script with node on a JSON payload (argv[2]); returns its JSON stdout."""
    (tmp_path / "in.json").write_text(json.dumps(payload))
    (tmp_path / "run.mjs").write_text(script)
    proc = subprocess.run([NODE, str(tmp_path / "run.mjs"), str(tmp_path / "in.json")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
