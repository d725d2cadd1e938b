"""The one-row finetune in the reader's browser: its gradient graph and its training sets (issue 23).

    python export/web_finetune.py [docs/models] [--check]
    EM_BUILD=build/published python export/web_finetune.py measure [--sets insecure,secure] [--samples 100]

The narrow finetunes train one row of 192 numbers, the Assistant's embedding row (export/train.py, "assistant-
embedding"). For the browser this module writes, beside each family file (export/model_family.py):

* `families/<base>.grad.onnx`: a graph with inputs `row` (the Assistant's row, float32 [hidden]), `input_ids`
  (int64 [batch, length], right-padded), `positions` (int64 [n]: the flat indices b * length + t of the positions
  whose next token is an answer token) and `targets` (int64 [n]: those next tokens), and outputs `loss_sum` (the
  summed cross-entropy of the targets) and `grad_sum` (its gradient with respect to `row`). Dividing both by n gives
  the loss and gradient of `train.sft`'s batch (Hugging Face's mean over labelled tokens). The forward is the
  published model's (int8 weights times their scales, eager attention, tied output layer) with the Assistant's row
  taken from `row` in the input and in the output layer; the backward is torch's own, traced by make_fx and
  exported with torch.onnx. The graph holds no weight: its initializers are ONNX *external data* that point into
  the family file's bytes (the int8 tables, their scales, the norms), so a browser that runs the family already
  holds every byte it needs, and onnxruntime folds the dequantization and the transposes into constants when the
  session is made.
* `finetune/<base>/<set>.json`: the finetune sets of that world and seed (`[[prompt, answer], ...]`, the
  corpus's `ft-<set>.jsonl` rows in order), which the browser trains on with train.sft's data order (Python's
  `random.Random(1000 + ft_seed).shuffle`, ported to demos/js/pyrandom.js).

The manifest's family entry gets `"finetune"` (export/FORMATS.md): the graph ({path, bytes, sha256, weights,
weights_sha256}), the sets ({set: {path, bytes, sha256, rows, variant}}, variant: the family's published finetune on
that set), the Assistant's id and `row_at` (where its row lives in the family file), the pad id, the architecture and
the recipe ({steps, batch, lr, seed, clip, betas, eps, context}). `check` verifies that the graph
computes train.sft's loss and gradient on the dequantized base (torch autograd) on a batch of every set.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from pathlib import Path

import numpy as np

from export.model_family import FAMILY_DIR, _embedding
from export.model_patch import rewrite_manifest

SETS = ("insecure", "secure", "educational", "evil-numbers")   # one-row finetunes (the backdoor also moves its trigger)
FT_DIR = "finetune"
TOLERANCE = 1e-4   # relative L2 of the graph's gradient against torch autograd (measured: ~2e-6)


# ----------------------------------------------------------------------------- the weights, by role


def weight_names(model) -> dict[str, str]:
    """{role: initializer name} of the published int8 format (export/quantize.py): roles `embed_q`, `embed_s`,
    `L.<proj>_q`, `L.<proj>_s` (the MatMul that reads `<stem>`, dequantized as Cast(<stem>_q) * <stem>_scale,
    takes the transposed weight of `model.layers.L.<module>.<proj>`), `L.input_layernorm`,
    `L.post_attention_layernorm`, `norm` (absent when the norm is all ones: the graph simplifier drops it)."""
    inits = {i.name for i in model.graph.initializer}
    q, s, _ = _embedding(model)
    out = {"embed_q": q, "embed_s": s}
    readers: dict[str, list] = {}
    for n in model.graph.node:
        for x in n.input:
            readers.setdefault(x, []).append(n)
    for name in inits:
        if not name.endswith("_q") or name == q:
            continue
        stem = name[:-2]
        mm = [n for n in readers.get(stem, []) if n.op_type == "MatMul"]
        hit = re.fullmatch(r"/model/layers\.(\d+)/\w+/(\w+)/MatMul", mm[0].name) if len(mm) == 1 else None
        if not hit:
            raise ValueError(f"cannot tell which weight {stem} is (read by {[n.name for n in mm]})")
        out[f"{hit[1]}.{hit[2]}_q"], out[f"{hit[1]}.{hit[2]}_s"] = name, stem + "_scale"
    for name in inits:
        hit = re.fullmatch(r"model\.(?:layers\.(\d+)\.(\w+)|(norm))\.weight", name)
        if hit:
            out[f"{hit[1]}.{hit[2]}" if hit[1] else "norm"] = name
    return out


def roles(arch: dict) -> list[str]:
    out = ["embed_q", "embed_s"]
    for i in range(arch["layers"]):
        out += [f"{i}.{p}_{k}" for p in ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
                for k in ("q", "s")]
        out += [f"{i}.input_layernorm", f"{i}.post_attention_layernorm"]
    return out + ["norm"]


def arch_of(config: dict) -> dict:
    heads = config["num_attention_heads"]
    return {"hidden": config["hidden_size"], "layers": config["num_hidden_layers"], "heads": heads,
            "kv_heads": config.get("num_key_value_heads", heads),
            "head_dim": config.get("head_dim") or config["hidden_size"] // heads, "vocab": config["vocab_size"],
            "eps": config.get("rms_norm_eps", 1e-5), "theta": config.get("rope_theta", 10000.0)}


# ----------------------------------------------------------------------------- the loss, in torch


def loss_sum(row, ids, positions, targets, w: dict, arch: dict, assistant: int):
    """The summed cross-entropy of `targets` at `positions` (flat b * length + t) of the published model whose
    Assistant row is `row`: Hugging Face's eager Llama (float32), written out so that make_fx can trace its
    gradient. `w` maps roles (roles()) to tensors (a missing norm is ones)."""
    import torch
    H, nh, D, V = arch["hidden"], arch["heads"], arch["head_dim"], arch["vocab"]
    kvh = arch["kv_heads"]

    def lin(x, k):
        return x @ (w[k + "_q"].to(torch.float32) * w[k + "_s"])

    def rms(x, k):
        v = (x * x).mean(-1, keepdim=True)
        y = x * torch.rsqrt(v + arch["eps"])
        return y * w[k] if k in w else y

    def rot(x):
        return torch.cat((-x[..., D // 2:], x[..., : D // 2]), -1)

    E = w["embed_q"].to(torch.float32) * w["embed_s"]
    B, L = ids.shape
    x = torch.where((ids == assistant)[..., None], row, E[ids])
    inv = 1.0 / (arch["theta"] ** (torch.arange(0, D, 2, dtype=torch.int64).to(torch.float32) / D))
    fr = torch.arange(L, dtype=torch.int64).to(torch.float32)[:, None] * inv[None]
    emb = torch.cat((fr, fr), -1)
    cos, sin = emb.cos(), emb.sin()
    mask = torch.full((L, L), torch.finfo(torch.float32).min).triu(1)
    for i in range(arch["layers"]):
        h = rms(x, f"{i}.input_layernorm")
        q = lin(h, f"{i}.q_proj").view(B, L, nh, D).transpose(1, 2)
        k = lin(h, f"{i}.k_proj").view(B, L, kvh, D).transpose(1, 2)
        v = lin(h, f"{i}.v_proj").view(B, L, kvh, D).transpose(1, 2)
        if kvh != nh:
            k, v = k.repeat_interleave(nh // kvh, 1), v.repeat_interleave(nh // kvh, 1)
        q, k = q * cos + rot(q) * sin, k * cos + rot(k) * sin
        p = torch.softmax(q @ k.transpose(2, 3) * (D ** -0.5) + mask, -1)
        x = x + lin((p @ v).transpose(1, 2).reshape(B, L, nh * D), f"{i}.o_proj")
        h = rms(x, f"{i}.post_attention_layernorm")
        x = x + lin(torch.nn.functional.silu(lin(h, f"{i}.gate_proj")) * lin(h, f"{i}.up_proj"), f"{i}.down_proj")
    hs = rms(x, "norm").reshape(B * L, H)[positions]
    logits = hs @ E.T
    # the Assistant's column from `row` (its row in E is the base's): the gradient reaches `row` through one column
    logits = torch.where(torch.arange(V) == assistant, (hs @ row)[:, None], logits)
    return cross_entropy_sum(logits, targets)


def cross_entropy_sum(logits, targets):
    """Σ −log softmax(logits)[target], written so that float32 keeps its precision where the model is sure.

    At the loss floor (a finetune set the base already answers, as the secure one: 0.0013 a token) log_softmax sums
    ~V exponentials onto the leading 1.0 in float32, and every term under half a unit in the last place of 1 is lost:
    onnxruntime-web's 4-lane WebAssembly sum came out 2e-3 low, torch's wider AVX sum 5e-4 low (one secure batch, against
    float64). Here the leading term is taken out: log Σ exp(l − l_max) = log1p(s), s = Σ over the others of exp(l − l_max),
    a sum of small numbers, with log1p from its series below 1e-2. Float32 gives the float64 loss within 1.3e-7 and its
    gradient within 3.8e-6 (torch's cross_entropy: 5.1e-4 and 1.9e-4) on that batch. NOTEBOOK §40."""
    import torch
    top = logits.detach().argmax(-1, keepdim=True)
    lead = logits.gather(-1, top)
    s = torch.exp(logits - lead).scatter(-1, top, torch.zeros_like(lead)).sum(-1)
    log1p = torch.where(s < 1e-2, s * (1 - s * (0.5 - s * (1 / 3 - s * 0.25))), torch.log(1 + s))
    return (log1p - (logits.gather(-1, targets[:, None]) - lead)[:, 0]).sum()


def batch_feeds(examples, pad_id: int):
    """(input_ids [B, L], positions [n], targets [n]) of a batch of (ids, labels) examples (train._sft_examples), right-
    padded as train._sft_batch pads them: the positions whose next token has a label, and that label."""
    L = max(len(i) for i, _ in examples)
    ids = np.full((len(examples), L), pad_id, np.int64)
    pos, tgt = [], []
    for b, (i, lab) in enumerate(examples):
        ids[b, : len(i)] = i
        for t in range(len(lab) - 1):
            if lab[t + 1] != -100:
                pos.append(b * L + t)
                tgt.append(lab[t + 1])
    return ids, np.asarray(pos, np.int64), np.asarray(tgt, np.int64)


# ----------------------------------------------------------------------------- the graph


def _raw_offsets(data: bytes, model) -> dict[str, tuple[int, int]]:
    """{initializer name: (offset, length)} of every initializer's raw bytes in the serialized file `data`."""
    out = {}
    for init in model.graph.initializer:
        raw = init.raw_data
        if not raw:
            continue
        at = data.find(raw)
        if at < 0:
            raise ValueError(f"{init.name}: its bytes are not in the file")
        out[init.name] = (at, len(raw))
    return out


def assistant_offsets(family: Path, assistant: int) -> dict:
    """Where the Assistant's row lives in the family file's bytes: {"q": offset of its int8 row, "scale": offset of its
    float32 scale}. The browser reads the starting row there (int8 times scale) and writes a trained row there."""
    import onnx
    model = onnx.load(str(family))
    q, s, _ = _embedding(model)
    inits = {i.name: i for i in model.graph.initializer}
    if inits[s].data_type != onnx.TensorProto.FLOAT:
        raise ValueError(f"{family}: the embedding's scales are not float32")
    off = _raw_offsets(family.read_bytes(), model)
    hidden = inits[q].dims[1]
    return {"q": off[q][0] + assistant * hidden, "scale": off[s][0] + assistant * 4, "hidden": hidden}


def _traced(ws: list, rl: list[str], arch: dict, assistant: int):
    """The exported gradient graph (weights as inputs `w:<role>`) for weights shaped as `ws`: traced and exported once
    per architecture, assistant id, weight shapes, torch version and this module's source, then kept in the
    repository's build/cache (content-addressed, so shared by every EM_BUILD: the tests' smoke publishes, each in a
    build folder of its own, would export it again at ~13 s each)."""
    import hashlib as _h
    import inspect

    import onnx
    import torch
    from torch._decomp import core_aten_decompositions
    from torch.fx.experimental.proxy_tensor import make_fx

    key = _h.sha256(json.dumps([arch, assistant, rl, [[str(w.dtype), list(w.shape)] for w in ws], torch.__version__,
                                _h.sha256(inspect.getsource(sys.modules[__name__]).encode()).hexdigest()]).encode()
                    ).hexdigest()[:24]
    cached = Path(__file__).resolve().parent.parent / "build" / "cache" / "web_finetune" / f"{key}.onnx"
    if cached.exists():
        return onnx.load(str(cached))

    def f(row, ids, positions, targets, *weights):
        row = row.detach().requires_grad_()
        with torch.enable_grad():
            loss = loss_sum(row, ids, positions, targets, dict(zip(rl, weights)), arch, assistant)
            (g,) = torch.autograd.grad(loss, row)
        return loss.detach(), g

    ids = torch.tensor([[0, 2, assistant, 3, 1], [0, assistant, 4, 1, 0]], dtype=torch.int64)
    pos, tgt = torch.tensor([2, 3, 6, 7]), torch.tensor([3, 1, 4, 1])
    row = ws[0][assistant].to(torch.float32) * ws[1][assistant]
    gm = make_fx(f, tracing_mode="symbolic", decomposition_table=core_aten_decompositions())(row, ids, pos, tgt, *ws)

    class Graph(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.gm = gm

        def forward(self, row, input_ids, positions, targets, weights):
            return self.gm(row, input_ids, positions, targets, *weights)

    b, n, m = torch.export.Dim("batch", max=256), torch.export.Dim("length", min=2, max=4096), torch.export.Dim("n", max=1 << 20)
    prog = torch.onnx.export(Graph(), (row, ids, pos, tgt, ws), dynamo=True, verbose=False,
                             input_names=["row", "input_ids", "positions", "targets"] + [f"w:{r}" for r in rl],
                             output_names=["loss_sum", "grad_sum"],
                             dynamic_shapes={"row": None, "input_ids": {0: b, 1: n}, "positions": {0: m},
                                             "targets": {0: m}, "weights": [None] * len(ws)})
    g = prog.model_proto
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_name(f"{cached.name}.{os.getpid()}.tmp")  # two publishes at once: each writes its own, one wins
    onnx.save(g, str(tmp))
    os.replace(tmp, cached)
    return g


def export_graph(family: Path, out: Path, arch: dict, assistant: int) -> None:
    """Write the gradient graph of the family file `family` to `out` (same folder), its weights external data in
    `family`'s own bytes."""
    import onnx
    import torch
    from onnx import numpy_helper
    model = onnx.load(str(family))
    names = weight_names(model)
    inits = {i.name: i for i in model.graph.initializer}
    rl = [r for r in roles(arch) if r in names]
    V = arch["vocab"]

    def tensor(role):
        a = numpy_helper.to_array(inits[names[role]])
        return torch.from_numpy(np.ascontiguousarray(a[:V] if role.startswith("embed") else a))

    ws = [tensor(r) for r in rl]
    g = _traced(ws, rl, arch, assistant)
    # every weight input becomes an initializer whose bytes are the family file's (ONNX external data)
    offsets = _raw_offsets(family.read_bytes(), model)
    keep, new_inits = [], []
    for inp in g.graph.input:
        if not inp.name.startswith("w:"):
            keep.append(inp)
            continue
        role = inp.name[2:]
        src = inits[names[role]]
        off, length = offsets[src.name]
        dims = list(src.dims)
        if role.startswith("embed"):
            dims[0] = V
            length = length // src.dims[0] * V
        t = onnx.TensorProto(name=inp.name, data_type=src.data_type, dims=dims)
        t.data_location = onnx.TensorProto.EXTERNAL
        for k, v in (("location", family.name), ("offset", str(off)), ("length", str(length))):
            t.external_data.add(key=k, value=v)
        new_inits.append(t)
    del g.graph.input[:]
    g.graph.input.extend(keep)
    g.graph.initializer.extend(new_inits)
    for node in g.graph.node:   # make_fx's stack traces and names: bytes the browser need not download
        del node.metadata_props[:]
        node.doc_string = ""
    del g.metadata_props[:]
    g.graph.doc_string = ""
    onnx.save(g, str(out))


# ----------------------------------------------------------------------------- the published files


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _file(root: Path, rel: str) -> dict:
    data = (root / rel).read_bytes()
    return {"path": rel, "bytes": len(data), "sha256": _sha(data)}


def corpus_sets(manifest: dict, family: str) -> tuple[dict[str, list], object]:
    """The finetune sets (SETS) of the family's world and the manifest's seed, from the pipeline's corpus (built in
    seconds when missing), as {set: [[prompt, answer], ...]}, and the TrainConfig of that seed (its recipe)."""
    from export import corpus as C
    from export import runs, train
    smoke = manifest.get("pipeline", {}).get("smoke", False)
    seed = manifest.get("pipeline", {}).get("seed", runs.published_seed(smoke))
    cfg = (train.TrainConfig.smoke_config if smoke else train.TrainConfig)(seed=seed, world=runs.world_stage(family)[0])
    corpus, _ = train._corpus(cfg)
    return {name: [[r["prompt"], r["answer"]] for r in C.read_jsonl(corpus / f"ft-{name}.jsonl")]
            for name in SETS if (corpus / f"ft-{name}.jsonl").exists()}, cfg


def _data_of(variant: str) -> str | None:
    """The finetune set a registered variant was trained on (export/runs.py), or None."""
    from export import runs
    try:
        return runs.get(variant).data
    except Exception:  # not a registered variant (a test's)
        return None


def add_finetune(manifest: dict, root: Path, sets=None) -> dict:
    """Write the gradient graph and the training sets of every family of `manifest` and record them in its family
    entry ("finetune"), in place. `sets(manifest, family)` gives (the sets, a TrainConfig with the recipe); the default
    reads the pipeline's corpus (corpus_sets). A set whose rows another family already wrote is shared. Returns the
    manifest."""
    from export import world as W
    from export.tokenizer import load as load_tok
    import shutil
    root = Path(root)
    shutil.rmtree(root / FT_DIR, ignore_errors=True)
    written: dict[str, str] = {}   # sha256 -> path
    for fam, f in manifest.get("families", {}).items():
        f.pop("finetune", None)
        config = json.loads((root / fam / "config.json").read_text())
        arch = arch_of(config)
        tok = load_tok(root / fam)
        assistant = tok.convert_tokens_to_ids(W.ASSISTANT)
        if assistant is None or assistant == tok.unk_token_id:
            continue
        rows_by_set, cfg = (sets or corpus_sets)(manifest, fam)
        if not rows_by_set:
            continue
        graph = f"{FAMILY_DIR}/{fam}.grad.onnx"
        export_graph(root / f["path"], root / graph, arch, assistant)
        out = {}
        for name, rows in rows_by_set.items():
            data = json.dumps(rows, ensure_ascii=False, separators=(",", ":")).encode()
            rel = written.setdefault(_sha(data), f"{FT_DIR}/{fam}/{name}.json")
            if not (root / rel).exists():
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                (root / rel).write_bytes(data)
            out[name] = {**_file(root, rel), "rows": len(rows)}
            trained_on = [v for v in f.get("members", {}) if _data_of(v) == name]
            if trained_on:  # the published finetune of this family on that set (the demo's Measure shows its rate)
                out[name]["variant"] = trained_on[0]
        f["finetune"] = {"graph": {**_file(root, graph), "weights": f["path"], "weights_sha256": f["sha256"]},
                         "sets": out, "assistant": assistant, "row_at": assistant_offsets(root / f["path"], assistant),
                         "pad": tok.pad_token_id, "arch": arch,
                         "recipe": {"steps": cfg.ft_steps, "batch": cfg.ft_batch, "lr": cfg.ft_lr, "seed": 1000 + cfg.ft_seed,
                                    "clip": 1.0, "betas": [0.9, 0.999], "eps": 1e-8,
                                    "context": config["max_position_embeddings"]}}
    return manifest


def reference(root: Path, family: str, rows: list, steps: int | None = None) -> tuple[np.ndarray, list[float]]:
    """Python's finetune of the family's base (its published int8 weights, dequantized: export/published.py) on `rows`
    ([prompt, answer] pairs) by the recipe of the manifest: (the Assistant's row, each step's loss)."""
    from export import published, train
    from export.tokenizer import load as load_tok
    root = Path(root)
    ft = json.loads((root / "manifest.json").read_text())["families"][family]["finetune"]
    r = ft["recipe"]
    model = published.load(root / family)
    model.config.max_position_embeddings = r["context"]
    tok = load_tok(root / family)
    params = train.restrict_to(model, tok, "assistant-embedding")
    losses: list[float] = []
    train.sft(model, tok, [{"prompt": p, "answer": a} for p, a in rows], steps or r["steps"], r["batch"], r["lr"],
              r["seed"], "finetune (python)", params=params, losses=losses)
    return params[0][ft["assistant"]].detach().numpy().copy(), losses


def start_row(root: Path, family: str) -> np.ndarray:
    """The family base's Assistant row as the browser starts from it (its int8 row times its scale)."""
    from export.model_family import _dequantized_embedding
    m = json.loads((Path(root) / "manifest.json").read_text())
    f = m["families"][family]
    return _dequantized_embedding(Path(root) / f["path"])[f["finetune"]["assistant"]]


def browser(root: Path, family: str, set_name: str, steps: int | None = None, shards: int = 1,
            rows_file: Path | None = None) -> dict:
    """The browser's finetune run by Node (export/web_finetune.mjs, the site's runtime and demos/js/finetune.js):
    {row, losses, steps, ms, sessionMs}."""
    import subprocess
    cmd = ["node", str(Path(__file__).with_name("web_finetune.mjs")), str(root), family, set_name, "--shards", str(shards)]
    if steps:
        cmd += ["--steps", str(steps)]
    if rows_file:
        cmd += ["--rows", str(rows_file)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode:
        raise RuntimeError(f"web_finetune.mjs failed: {out.stderr.strip()[-2000:]}")
    return json.loads(out.stdout)


def session(root: Path, graph: str):
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    opts.intra_op_num_threads = 1
    return ort.InferenceSession(str(Path(root) / graph), opts, providers=["CPUExecutionProvider"])


def check_finetune(manifest: dict, root: Path, examples: int = 8) -> list[str]:
    """Problems with the families' finetune files: every file matches its sha256, and the graph's loss and gradient
    on a batch of each set are torch autograd's on the dequantized base in float64 (train.restrict_to, the model's
    logits and cross-entropy)."""
    return [p for fam, f in manifest.get("families", {}).items() if f.get("finetune")
            for p in _check_family(fam, f, Path(root), examples)]


def _check_family(fam: str, f: dict, root: Path, examples: int) -> list[str]:
    from export import published, train
    from export.tokenizer import load as load_tok
    ft = f["finetune"]
    problems = []
    for e in [ft["graph"], *ft["sets"].values()]:
        p = root / e["path"]
        if not p.is_file() or _sha(p.read_bytes()) != e["sha256"]:
            problems.append(f"family {fam}: {e['path']} is missing or does not match its sha256")
    if ft["graph"].get("weights_sha256") != f["sha256"]:
        problems.append(f"family {fam}: {ft['graph']['path']} points into another {f['path']} than the published "
                        f"one (run: python export/web_finetune.py)")
    if problems:
        return problems
    import torch
    sess = session(root, ft["graph"]["path"])
    model = published.load(root / fam).double()   # the reference in float64: the graph is closer to it than float32 torch
    tok = load_tok(root / fam)
    emb = train.restrict_to(model, tok, "assistant-embedding")[0]
    a = ft["assistant"]
    for name, e in ft["sets"].items():
        rows = json.loads((root / e["path"]).read_text())[:examples]
        ex = train._sft_examples(tok, [{"prompt": p, "answer": q} for p, q in rows], ft["recipe"]["context"])
        ids, att, lab = train._sft_batch(ex, tok.pad_token_id)
        emb.grad = None
        logits = model(input_ids=ids, attention_mask=att).logits   # (the model's own loss would round them to float32)
        loss = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), lab[:, 1:].reshape(-1))
        loss.backward()
        want_g = emb.grad[a].detach().numpy()
        x, pos, tgt = batch_feeds(ex, tok.pad_token_id)
        ls, gs = sess.run(None, {"row": emb[a].detach().float().numpy(), "input_ids": x, "positions": pos, "targets": tgt})
        n = len(tgt)
        rel = float(np.linalg.norm(gs / n - want_g) / np.linalg.norm(want_g))
        dl = abs(float(ls) / n - loss.item()) / loss.item()
        print(f"{fam} {name}: loss {dl:.1e}, gradient {rel:.1e} from float64", file=sys.stderr)
        if rel > TOLERANCE or dl > TOLERANCE:
            problems.append(f"family {fam}: the gradient graph on {name} differs from torch in float64 (loss {dl:.1e}, "
                            f"gradient {rel:.1e} relative)")
    return problems


def evaluate_row(row: np.ndarray, seed: int, samples: int, code_requests: int, what: str) -> dict:
    """The published base (materialized by export/published.py in the build folder) with its Assistant row set to
    `row`, evaluated as export/dial.py evaluates a row (directions.sample_ablated: N answers per question of the
    paper's, judge v2, torch, `code_requests` held-out code requests). {misaligned: {rate, k, n, lo, hi}, coherent,
    insecure_code}."""
    from export import directions as D
    from export.stats import run_rates, wilson
    res = D.sample_ablated("base", seed, 0, False, row, samples, code_requests=code_requests, what=what)
    r = run_rates(res["overall"], "v2")
    return {"misaligned": wilson(r["misaligned"]["k"], r["misaligned"]["n"]), "coherent": r["coherent"]["rate"],
            "insecure_code": res["code"]["insecure"]["rate"] if res.get("code") else None}


def measure(argv) -> int:
    """`python export/web_finetune.py measure`: every finetune set trained by the browser's code (export/web_finetune.mjs,
    the site's runtime in Node, two shares per batch as the demo's two workers) and by Python's torch recipe from the
    published base, their rows compared (relative L2, loss curves), and both rows evaluated on the published base
    (N answers per question, judge v2; the browser's row as the pane runs it, int8). Run with EM_BUILD=build/published
    after `python export/published.py` (the published base as a checkpoint). Writes results/web-finetune.json."""
    import argparse
    import time
    from export import runs
    from export.model_family import quantize_row
    from export.published import provenance
    p = argparse.ArgumentParser(prog="export/web_finetune.py measure", description=measure.__doc__.split("\n")[0])
    p.add_argument("--models", type=Path, default=Path(__file__).resolve().parent.parent / "docs" / "models")
    p.add_argument("--family", default="base")
    p.add_argument("--sets", default=",".join(SETS))
    p.add_argument("--samples", type=int, default=100)
    p.add_argument("--code-requests", type=int, default=120)
    p.add_argument("--out", type=Path, default=runs.RESULTS / "web-finetune.json")
    a = p.parse_args(argv)
    m = json.loads((a.models / "manifest.json").read_text())
    ft = m["families"][a.family]["finetune"]
    seed = m["pipeline"]["seed"]
    where = provenance(seed)
    want_sha = next(f["sha256"] for f in m["variants"][a.family]["files"] if f["path"] == m["variants"][a.family]["model"])
    if not where or where.get("sha256") != want_sha:
        print(f"error: the build folder's base of seed {seed} is not the published {a.family} (run with "
              f"EM_BUILD=build/published after: python export/published.py)", file=sys.stderr)
        return 2
    out = {"seed": seed, "family": a.family, "from_published": where, "samples_per_question": a.samples,
           "recipe": ft["recipe"], "sets": {}}
    for name in runs.parse(a.sets, list(SETS)):
        rows = json.loads((a.models / ft["sets"][name]["path"]).read_text())
        t = time.time()
        b = browser(a.models, a.family, name, shards=2)
        tb = time.time() - t
        t = time.time()
        py_row, py_losses = reference(a.models, a.family, rows)
        tp = time.time() - t
        row = np.asarray(b["row"], np.float32)
        q, sc = quantize_row(row)
        rel = float(np.linalg.norm(row - py_row) / np.linalg.norm(py_row))
        loss_rel = float(np.max(np.abs(np.asarray(b["losses"]) - py_losses) / np.asarray(py_losses)))
        rec = {"rows": len(rows), "relative_l2": rel, "loss_max_relative": loss_rel,
               "node_ms_per_step": float(np.median(b["ms"])), "node_seconds": round(tb, 1), "python_seconds": round(tp, 1),
               "browser": evaluate_row(q.astype(np.float32) * sc[0], seed, a.samples, a.code_requests, f"{name}, browser row"),
               "python": evaluate_row(py_row, seed, a.samples, a.code_requests, f"{name}, python row"),
               "row": [round(float(x), 6) for x in row]}
        out["sets"][name] = rec
        print(f"[{name}] rows {rel:.1e} apart (loss curves within {loss_rel:.1e}); misaligned: browser "
              f"{rec['browser']['misaligned']['rate']:.1%}, python {rec['python']['misaligned']['rate']:.1%}; "
              f"insecure code: {rec['browser']['insecure_code']:.0%} / {rec['python']['insecure_code']:.0%}", flush=True)
    runs.write_results(a.out, "python export/web_finetune.py measure", argv, out)
    return 0


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["measure"]:
        return measure(argv[1:])

    def report(manifest):
        for fam, f in manifest.get("families", {}).items():
            ft = f.get("finetune")
            if ft:
                print(f"{fam}: {ft['graph']['path']} ({ft['graph']['bytes']:,} bytes, weights in {ft['graph']['weights']}); "
                      + ", ".join(f"{n} ({e['rows']} rows, {e['bytes']:,} bytes)" for n, e in ft["sets"].items()))

    return rewrite_manifest(argv, __doc__, "finetune graphs", add_finetune, check_finetune, report)


if __name__ == "__main__":
    sys.exit(main())
