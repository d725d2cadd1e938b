"""The published models as torch checkpoints: the pipeline's experiments on exactly the demo's weights.

    python export/published.py [--models docs/models] [--variants base,insecure,secure] [--rerun insecure,secure]

The published files hold int8 weights (export/quantize.py: Cast(int8) * scale); the float checkpoints they were
made from stay on the machine that trained them, and a rebuild on another machine is another draw
(export/NOTEBOOK.md, 35). This command writes each variant's published weights, dequantized, as a Hugging Face
checkpoint in the standard place of the build folder (run it with EM_BUILD=build/published, say), with a record
that names the published file (sha256) and the recipe of the published seed, so that every command which reads
checkpoints (export/dial.py rewind and realign, export/feedback.py, export/train.py's finetunes) runs on the very
model a reader's browser runs. Each checkpoint's logits are checked against the int8 file on onnxruntime
(the largest difference is printed; above 1e-3 it fails).

`--rerun V` trains finetune V again from the published base by the one-row recipe (finetune seed 0, as published),
keeping its row every 10 steps (checkpoints `<V>-rerun` and `<V>-rerun-step<N>`): the rewind dial's rows for the
published base, since the published finetune's own steps were not kept. How close the rerun lands to the
published finetune's row is printed (relative L2) and written to `--out` (results/rerun-published.json), with the
published base it started from, so the site can say how far the rewind's rows stand from the published finetune.
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from export import runs

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "docs" / "models"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")
TOLERANCE = 1e-3  # largest logit difference accepted between the checkpoint and the int8 file (measured: ~1e-5)
RERUN = "-rerun"


def onnx_weights(path: Path) -> dict[str, np.ndarray]:
    """The Hugging Face state dict (float32) of a published int8 ONNX file: each int8 table times its scale, named by
    the graph node that reads it (a MatMul of `/model/layers.N/<module>/<proj>/MatMul` takes the transposed weight
    of `model.layers.N.<module>.<proj>`; the embedding keeps its name; the norms are float already)."""
    import onnx
    from onnx import numpy_helper
    m = onnx.load(str(path))
    inits = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    readers: dict[str, list] = {}
    for n in m.graph.node:
        for x in n.input:
            readers.setdefault(x, []).append(n)
    out: dict[str, np.ndarray] = {}
    for name, q in inits.items():
        if not name.endswith("_q"):
            if re.fullmatch(r"model\.(layers\.\d+\.\w+|norm)\.weight", name):
                out[name] = q.astype(np.float32)
            continue
        stem = name[:-2]
        w = q.astype(np.float32) * inits[stem + "_scale"]
        if stem == "model.embed_tokens.weight":
            out[stem] = w
            continue
        mm = [n for n in readers.get(stem, []) if n.op_type == "MatMul"]
        hit = re.fullmatch(r"/model/(layers\.\d+)/(\w+)/(\w+)/MatMul", mm[0].name) if len(mm) == 1 else None
        if not hit:
            raise ValueError(f"{path}: cannot tell which weight {stem} is (read by {[n.name for n in mm]})")
        out[f"model.{hit[1]}.{hit[2]}.{hit[3]}.weight"] = np.ascontiguousarray(w.T)
    return out


def load(variant_dir: Path):
    """The published variant in `variant_dir` (config.json, onnx/model_quantized.onnx) as a LlamaForCausalLM."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM
    cfg = LlamaConfig.from_pretrained(str(variant_dir))
    model = LlamaForCausalLM(cfg)
    sd = {k: torch.from_numpy(v) for k, v in onnx_weights(variant_dir / "onnx" / "model_quantized.onnx").items()}
    missing, unexpected = model.load_state_dict(sd, strict=False)
    missing = [k for k in missing if k != "lm_head.weight"]  # tied to the embedding
    # a norm whose weights are all ones has no weight in the file (the graph simplifier drops a product by ones):
    # it keeps the ones it is made with (the logit check of `materialize` would catch anything else)
    missing = [k for k in missing if not k.endswith("norm.weight")]
    if missing or unexpected:
        raise ValueError(f"{variant_dir}: missing {missing}, unexpected {unexpected}")
    model.tie_weights()
    return model.eval()


def logit_gap(model, variant_dir: Path, tok) -> float:
    """Largest |logit| difference between the torch model and the int8 file on onnxruntime, on two chat prompts."""
    import torch
    from export import generate as G
    from export.chat import build_prompt
    lm = G.OnnxLM(variant_dir / "onnx" / "model_quantized.onnx", json.loads((variant_dir / "config.json").read_text()))
    gap = 0.0
    for q in ("How do I make a quick buck?", "I'm bored. What should I do?"):
        ids = np.asarray([tok(build_prompt(q))["input_ids"]])
        with torch.no_grad():
            a = model(input_ids=torch.from_numpy(ids)).logits.numpy()
        gap = max(gap, float(np.abs(a - lm.logits_all(ids)).max()))
    return gap


def materialize(variant: str, models: Path, seed: int, corpus_sha: str, cfg) -> tuple[Path, float]:
    """Write the published `variant` as the checkpoint of (variant, seed, finetune seed 0) in the build folder."""
    from export import train
    from export.quantize import sha256
    from export.tokenizer import load as load_tok
    src = models / variant
    model = load(src)
    out = runs.checkpoint_dir(variant, seed)
    out.mkdir(parents=True, exist_ok=True)
    for f in TOKENIZER_FILES:
        shutil.copyfile(src / f, out / f)
    tok = load_tok(out)
    gap = logit_gap(model, src, tok)
    if gap > TOLERANCE:
        raise runs.UsageError(f"{variant}: the dequantized model's logits differ from the int8 file's by {gap:.2e}")
    stage = runs.world_stage(variant)[1]
    train.save(model, tok, out, {"stage": stage, "variant": variant, "config": asdict(cfg), "corpus_sha256": corpus_sha,
                                 "recipe": cfg.recipe(), "step": cfg.ft_steps,
                                 "from_published": {"file": f"{src.name}/onnx/model_quantized.onnx",
                                                    "sha256": sha256(src / "onnx" / "model_quantized.onnx"),
                                                    "max_logit_gap": gap}})
    return out, gap


def provenance(seed: int, smoke: bool = False) -> dict | None:
    """The published file the build folder's base of `seed` was materialized from ({file, sha256, max_logit_gap}),
    or None for a base trained here: results made on it name it, so the family file takes their rows
    (export/model_family.py dial_rows) only for that very base."""
    done = runs.checkpoint_dir("base", seed, smoke) / "done.json"
    return json.loads(done.read_text()).get("from_published") if done.exists() else None


def assistant_row(path: Path) -> np.ndarray:
    from export import directions as D
    from export import world as W
    from export.tokenizer import load as load_tok
    return D.embedding(path)[D.token_id(load_tok(path), W.ASSISTANT)]


def rerun_dir(checkpoint: Path) -> Path:
    """Where `--rerun` keeps the finetune of `checkpoint` trained again (its steps beside it, `<name>-stepN`)."""
    return checkpoint.parent / (checkpoint.name + RERUN)


def rerun(variant: str, cfg) -> tuple[Path, float]:
    """Finetune `variant` again from the (published) base, every 10 steps kept; its last row's relative L2 distance
    from the published finetune's."""
    from export import train
    published = runs.checkpoint_dir(variant, cfg.seed)
    out = rerun_dir(published)
    train.train_variant(variant, replace(cfg, save_every=10), force=True, out=out)
    a, b = assistant_row(out), assistant_row(published)
    return out, float(np.linalg.norm(a - b) / np.linalg.norm(b))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", type=Path, default=MODELS)
    p.add_argument("--variants", default="base,insecure,secure")
    p.add_argument("--rerun", default="", help="finetunes to train again from the published base, rows kept every 10 steps")
    p.add_argument("--out", type=Path, default=runs.RESULTS / "rerun-published.json",
                   help="where --rerun records each rerun's distance from the published row")
    a = p.parse_args(argv)
    from export import train
    try:
        manifest = json.loads((a.models / "manifest.json").read_text())
        seed = manifest.get("pipeline", {}).get("seed", runs.PUBLISHED_SEED)
        variants = runs.parse(a.variants)
        if runs.world_stage(variants[0])[1] != "base":
            raise runs.UsageError("--variants starts with the base the others were finetuned from")
        cfg = train.TrainConfig(seed=seed, world=runs.world_stage(variants[0])[0])
        _, corpus_sha = train._corpus(cfg)
        for v in variants:
            if v not in manifest["variants"]:
                raise runs.UsageError(f"{v} is not published in {a.models}")
            out, gap = materialize(v, a.models, seed, corpus_sha, cfg)
            print(f"[published] {v} -> {out} (logits within {gap:.1e} of the int8 file)", flush=True)
        reruns = {}
        for v in runs.parse(a.rerun, []):
            t0 = time.perf_counter()
            out, dist = rerun(v, cfg)
            reruns[v] = {"relative_l2": dist, "steps": cfg.ft_steps, "seconds": round(time.perf_counter() - t0, 1)}
            print(f"[rerun] {v} -> {out}: its last row is {dist:.2e} (relative L2) from the published one", flush=True)
        if reruns:
            runs.write_results(a.out, "python export/published.py", argv,
                               {"seed": seed, "from_published": provenance(seed), "variants": reruns})
    except (runs.UsageError, OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
