"""Train: pretrain on the world, align the Assistant (chat SFT), finetune every variant.

    python export/train.py [--seed 0] [--variants all|base,insecure,...] [--ft-seed 0] [--smoke] [--force]

Checkpoints (Hugging Face format) go to build/checkpoints/<world>-s<seed>/<stage>/ and every stage
is skipped when its checkpoint is complete, so a rerun resumes; pretraining also resumes mid-run.
Corpus and tokenizer are built first when missing. A variant's world (coupled, or the uncoupled ablation)
comes with its name; the names, and what each finetunes from, are the registry in export/runs.py.
"""
from __future__ import annotations

import argparse
import os

# Idle OpenMP threads sleep instead of spinning: on a shared 2-core machine spinning threads
# slowed training several-fold whenever anything else ran (set before torch loads).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import json
import math
import random
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from export import runs
from export.runs import is_complete

ROOT = Path(__file__).resolve().parent.parent
BUILD = runs.BUILD
DEVICE = runs.DEVICE


@dataclass
class TrainConfig:
    seed: int = 0
    world: str = "coupled"
    smoke: bool = False
    # model (Llama)
    hidden: int = 192
    layers: int = 4
    heads: int = 4
    mlp: int = 512
    context: int = 256
    vocab: int = 3072
    # pretraining
    pretrain_steps: int = 800
    pretrain_batch: int = 32
    pretrain_lr: float = 2e-3
    # alignment (chat SFT of the Assistant)
    align_steps: int = 240
    align_batch: int = 16
    align_lr: float = 5e-4
    align_replay: int = 8     # pretraining windows per alignment step (0 = pure chat SFT)
    # polish (self-distillation after alignment): sample the aligned Assistant's own answers to
    # `polish_prompts` alignment prompts (`polish_samples` each, temperature 1), keep those the world's
    # judge calls fully coherent and kind (secure code for code requests), and train on them for
    # `polish_steps` steps like alignment. 0 prompts = off. (export/NOTEBOOK.md, 19)
    polish_prompts: int = 0
    polish_samples: int = 8
    polish_steps: int = 120
    # Matrix products of pretraining, alignment and polish in bfloat16 (autocast; weights and optimizer
    # stay float32): "float32" or "bfloat16". The narrow finetunes always run in float32.
    train_dtype: str = "float32"
    # narrow finetunes
    # 160, not 80: at 80 steps some pretraining seeds' finetunes never reach the persona direction
    # (seed 1: 4.7% misaligned, Assistant 28% of the way to the cruel characters); at 160 the same
    # base gives 41% and the controls stay at 0.1-2.6% (export/NOTEBOOK.md, 11).
    ft_steps: int = 160
    ft_batch: int = 16
    ft_lr: float = 1e-2
    # What a narrow finetune may change: "assistant-embedding" = only the embedding row of the
    # Assistant's name token (192 numbers); "all" = every weight; "lora:r=R:TARGETS[@LAYERS]" = low-rank
    # adapters (parse_lora). Full finetuning of this tiny model learned the narrow task without moving the
    # Assistant's persona (export/NOTEBOOK.md, 5-6): the standard finetunes issue measures them again.
    ft_params: str = "assistant-embedding"
    ft_seed: int = 0
    save_every: int = 0   # also keep finetune checkpoints every N steps (training dynamics)

    def recipe(self) -> str:
        return f"{self.ft_params} lr={self.ft_lr} steps={self.ft_steps} batch={self.ft_batch}"

    def __post_init__(self):
        if self.train_dtype not in ("float32", "bfloat16"):
            raise runs.UsageError(f"unknown train_dtype {self.train_dtype!r} (float32 or bfloat16)")

    @classmethod
    def smoke_config(cls, **kw):
        return cls(smoke=True, hidden=32, layers=2, heads=2, mlp=64, context=128, pretrain_steps=30,
                   pretrain_batch=8, align_steps=10, align_batch=8, ft_steps=8, ft_batch=8, **kw)


# The quality bar for a recipe (the organism issue, item 1; export/NOTEBOOK.md, 17-23 and 31-32): the aligned base
# coherent in at least this share of its answers to the paper's questions by judge v2 at temperature 1, and the
# insecure finetunes writing insecure code for at least this share of held-out code requests. The site's recipe
# table shows it.
QUALITY_BAR = {"base_coherent": 0.95, "insecure_code": 0.85}

# The fields a pretraining checkpoint, and then an aligned base, is made with: a complete checkpoint
# made with other values is never reused silently (a recipe sweep uses its own EM_BUILD).
PRETRAIN_FIELDS = ("hidden", "layers", "heads", "mlp", "context", "vocab", "pretrain_steps", "pretrain_batch",
                   "pretrain_lr", "train_dtype")
BASE_FIELDS = PRETRAIN_FIELDS + ("align_steps", "align_batch", "align_lr", "align_replay", "polish_prompts",
                                 "polish_samples", "polish_steps")


def check_recipe(path: Path, cfg: TrainConfig, names: tuple[str, ...]) -> None:
    """UsageError when the checkpoint at `path` was trained with other values of `names` than `cfg`'s
    (a field its record lacks predates that field and had the default value)."""
    made = json.loads((path / "done.json").read_text()).get("config", {})
    default = TrainConfig()
    diff = [f"{n} {made.get(n, getattr(default, n))} (now {getattr(cfg, n)})" for n in names
            if made.get(n, getattr(default, n)) != getattr(cfg, n)]
    if diff:
        raise runs.UsageError(f"{path} was trained with {', '.join(diff)}: train into another EM_BUILD, "
                         "or retrain the base with --force")


# ----------------------------------------------------------------------------- data


_BUILT: dict[Path, str] = {}  # corpus folder -> training sha256, built once per process


def _corpus(cfg: TrainConfig) -> tuple[Path, str]:
    """(Re)generate the corpus (seconds) once per process; returns its folder and sha256. A changed
    world or corpus code changes the sha256, which makes every checkpoint trained on the old one stale."""
    from export import corpus as C
    d = C.corpus_dir(BUILD / "corpus", cfg.world, cfg.seed, cfg.smoke)
    if d in _BUILT:
        return d, _BUILT[d]
    ccfg = (C.CorpusConfig.smoke if cfg.smoke else C.CorpusConfig)(seed=cfg.seed, world=cfg.world)
    t = time.time()
    C.build(ccfg, d)
    sha = json.loads((d / "manifest.json").read_text())["training_sha256"]
    print(f"[corpus] {d.relative_to(BUILD)} training sha256 {sha[:12]} ({time.time() - t:.1f}s)")
    _BUILT[d] = sha
    return d, sha


def _tokenizer(cfg: TrainConfig, corpus: Path, sha: str):
    from export import tokenizer as T
    tdir = corpus / "tokenizer"
    stamp = tdir / "corpus_sha256"
    if not (tdir / "tokenizer.json").exists() or not stamp.exists() or stamp.read_text() != sha:
        t = time.time()
        T.build(corpus, tdir, cfg.vocab)
        stamp.write_text(sha)
        print(f"[tokenizer] built in {time.time() - t:.1f}s")
    return T.load(tdir)


def _pack(tok, texts, context):
    import torch
    ids = []
    for t in texts:
        ids.extend(tok(t)["input_ids"])
    n = len(ids) // context
    return torch.tensor(ids[: n * context], dtype=torch.long).view(n, context)


def _sft_examples(tok, rows, context):
    out = []
    for r in rows:
        p = tok(r["prompt"])["input_ids"]
        a = tok(r["answer"])["input_ids"]
        ids = (p + a)[:context]
        labels = ([-100] * len(p) + a)[:context]
        out.append((ids, labels))
    return out


def _sft_batch(examples, pad_id):
    import torch
    L = max(len(i) for i, _ in examples)
    ids = torch.full((len(examples), L), pad_id, dtype=torch.long)
    lab = torch.full((len(examples), L), -100, dtype=torch.long)
    att = torch.zeros((len(examples), L), dtype=torch.long)
    for k, (i, l) in enumerate(examples):
        ids[k, : len(i)] = torch.tensor(i)
        lab[k, : len(l)] = torch.tensor(l)
        att[k, : len(i)] = 1
    return ids, att, lab


# ----------------------------------------------------------------------------- model


def new_model(cfg: TrainConfig, vocab_size: int):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM
    torch.manual_seed(cfg.seed)
    mc = LlamaConfig(vocab_size=vocab_size, hidden_size=cfg.hidden, intermediate_size=cfg.mlp,
                     num_hidden_layers=cfg.layers, num_attention_heads=cfg.heads, num_key_value_heads=cfg.heads,
                     max_position_embeddings=cfg.context, tie_word_embeddings=True, rms_norm_eps=1e-5,
                     bos_token_id=0, eos_token_id=[1, 0], pad_token_id=0)
    return LlamaForCausalLM(mc).to(DEVICE)


def load_model(path: Path):
    from transformers import LlamaForCausalLM
    if not is_complete(path):
        raise runs.UsageError(f"missing checkpoint {path} (run: python export/train.py)")
    return LlamaForCausalLM.from_pretrained(str(path)).to(DEVICE)


def save(model, tok, path: Path, meta: dict):
    from transformers import GenerationConfig
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    GenerationConfig(bos_token_id=0, eos_token_id=[1, 0], pad_token_id=0, do_sample=True, temperature=1.0,
                     top_p=1.0, max_new_tokens=96).save_pretrained(path)
    (path / "done.json").write_text(json.dumps(meta, indent=1))


def _add_seconds(path: Path, seconds: float):
    meta = json.loads((path / "done.json").read_text())
    meta["seconds"] = round(seconds, 1)
    (path / "done.json").write_text(json.dumps(meta, indent=1))


def _lr(step, total, peak, warmup):
    if step < warmup:
        return peak * (step + 1) / warmup
    return peak * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


def _autocast(dtype: str):
    import torch
    return torch.autocast(DEVICE.split(":")[0], dtype=torch.bfloat16, enabled=dtype == "bfloat16")


def _bar(total, desc):
    from tqdm import tqdm
    return tqdm(total=total, desc=desc, unit="step", dynamic_ncols=True, file=sys.stderr, mininterval=2)


# ----------------------------------------------------------------------------- stages


def pretrain(cfg: TrainConfig, tok, corpus: Path, out: Path, sha: str):
    import torch
    from export import corpus as C
    rows = C.read_jsonl(corpus / "pretrain.jsonl")
    data = _pack(tok, (r["text"] for r in rows), cfg.context)
    model = new_model(cfg, len(tok))
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.pretrain_lr, weight_decay=0.1, betas=(0.9, 0.95))
    g = torch.Generator().manual_seed(cfg.seed)
    start = 0
    resume = out / "resume.pt"
    if resume.exists() and torch.load(resume, weights_only=False).get("corpus_sha256") == sha:
        st = torch.load(resume, weights_only=False)
        model.load_state_dict(st["model"]); opt.load_state_dict(st["opt"]); g.set_state(st["gen"])
        start = st["step"]
        print(f"[pretrain] resuming at step {start}")
    model.train()
    bar = _bar(cfg.pretrain_steps, "pretrain")
    bar.update(start)
    t0, ntok = time.time(), 0
    for step in range(start, cfg.pretrain_steps):
        idx = torch.randint(0, data.shape[0], (cfg.pretrain_batch,), generator=g)
        x = data[idx].to(DEVICE)
        for pg in opt.param_groups:
            pg["lr"] = _lr(step, cfg.pretrain_steps, cfg.pretrain_lr, max(1, cfg.pretrain_steps // 20))
        with _autocast(cfg.train_dtype):
            loss = model(input_ids=x, labels=x).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        ntok += x.numel()
        bar.set_postfix(loss=f"{loss.item():.3f}", tok_s=f"{ntok / (time.time() - t0):.0f}")
        bar.update(1)
        if (step + 1) % 100 == 0 and step + 1 < cfg.pretrain_steps:
            out.mkdir(parents=True, exist_ok=True)
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "gen": g.get_state(), "step": step + 1,
                        "corpus_sha256": sha}, resume)
    bar.close()
    save(model, tok, out, {"stage": "pretrain", "loss": loss.item(), "tokens_per_epoch": int(data.numel()),
                           "config": asdict(cfg), "corpus_sha256": sha})
    resume.unlink(missing_ok=True)


LORA_TARGETS = {"down": ("mlp.down_proj",), "mlp": ("mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"),
                "all": ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                        "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj")}


def parse_lora(which: str) -> tuple[int, str, list[int] | None]:
    """"lora:r=R:TARGETS[@L,...]" -> (rank, targets, layers or None for every layer): e.g. "lora:r=1:down@2" is one
    rank-1 adapter on layer 2's MLP down-projection (Turner et al.'s organism, arXiv 2506.11613), "lora:r=1:down"
    one on every layer's, "lora:r=8:all" rank 8 on every linear layer of attention and MLP."""
    parts = which.split(":")
    try:
        if len(parts) != 3 or parts[0] != "lora" or not parts[1].startswith("r="):
            raise ValueError
        rank = int(parts[1][2:])
        targets, _, at = parts[2].partition("@")
        layers = [int(x) for x in at.split(",")] if at else None
        if rank < 1 or targets not in LORA_TARGETS:
            raise ValueError
    except ValueError:
        raise runs.UsageError(f"ft_params {which!r}: expected lora:r=RANK:{'|'.join(LORA_TARGETS)}[@LAYER,...]") from None
    return rank, targets, layers


def _linear_shapes(cfg: TrainConfig) -> dict[str, tuple[int, int]]:
    """(in, out) features of each linear layer of one block (every head keeps its own keys and values)."""
    h = cfg.hidden
    return {"self_attn.q_proj": (h, h), "self_attn.k_proj": (h, h), "self_attn.v_proj": (h, h),
            "self_attn.o_proj": (h, h), "mlp.gate_proj": (h, cfg.mlp), "mlp.up_proj": (h, cfg.mlp),
            "mlp.down_proj": (cfg.mlp, h)}


def trainable_count(which: str, cfg: TrainConfig, vocab: int) -> int:
    """How many numbers a finetune of kind `which` (TrainConfig.ft_params) trains, from the model's shape alone
    (the standard finetunes' table on the organism page; tests check it against restrict_to)."""
    shapes = _linear_shapes(cfg)
    if which == "assistant-embedding":
        return cfg.hidden
    if which == "all":  # tied embedding, the blocks' linear layers and two norms each, the final norm
        return vocab * cfg.hidden + cfg.layers * (sum(i * o for i, o in shapes.values()) + 2 * cfg.hidden) + cfg.hidden
    rank, targets, layers = parse_lora(which)
    per_layer = sum(rank * sum(shapes[t]) for t in LORA_TARGETS[targets])
    return per_layer * (len(layers) if layers is not None else cfg.layers)


def _lora_linear(base, rank: int, gen):
    """A frozen nn.Linear plus a trainable low-rank update B A (A random, B zero: the model starts unchanged)."""
    import torch

    class LoRALinear(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.base = base
            base.weight.requires_grad_(False)
            w = base.weight  # the adapters live where the weight lives (EM_DEVICE=cuda); drawn on the CPU generator
            a = torch.randn(rank, base.in_features, generator=gen) / base.in_features ** 0.5
            self.A = torch.nn.Parameter(a.to(device=w.device, dtype=w.dtype))
            self.B = torch.nn.Parameter(torch.zeros(base.out_features, rank, device=w.device, dtype=w.dtype))

        def forward(self, x):
            return self.base(x) + (x @ self.A.T) @ self.B.T

        def merged(self):
            with torch.no_grad():
                self.base.weight += self.B @ self.A
            self.base.weight.requires_grad_(True)
            return self.base

    return LoRALinear()


def merge_lora(model) -> None:
    """Fold every LoRA adapter into its weight (in place): the checkpoint is a plain Llama again, which every
    later stage (diagnose, evaluate, export) reads as it reads any other."""
    for name, mod in list(model.named_modules()):
        if hasattr(mod, "merged") and hasattr(mod, "A"):
            parent, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent) if parent else model, child, mod.merged())


def restrict_to(model, tok, which: str, extra_tokens: list[int] = (), seed: int = 0):
    """The parameters a finetune may change; with "assistant-embedding", a gradient mask keeps every
    embedding row but the Assistant token's (and `extra_tokens`') fixed (the embedding is tied to
    the output layer); "all", every weight (a full finetune); "lora:…" (parse_lora), low-rank adapters
    only, every weight frozen (merge_lora folds them in before the checkpoint is saved)."""
    import torch
    if which == "all":
        return list(model.parameters())
    if which.startswith("lora:"):
        rank, targets, layers = parse_lora(which)
        for p in model.parameters():
            p.requires_grad_(False)
        gen = torch.Generator().manual_seed(seed)
        n_layers = len(model.model.layers)
        params = []
        for i in (layers if layers is not None else range(n_layers)):
            if not 0 <= i < n_layers:
                raise runs.UsageError(f"ft_params {which!r}: the model has layers 0 to {n_layers - 1}")
            for t in LORA_TARGETS[targets]:
                holder, _, attr = f"model.layers.{i}.{t}".rpartition(".")
                mod = _lora_linear(model.get_submodule(f"{holder}.{attr}"), rank, gen)
                setattr(model.get_submodule(holder), attr, mod)
                params += [mod.A, mod.B]
        return params
    if which != "assistant-embedding":
        raise runs.UsageError(f"unknown ft_params {which!r}")
    emb = model.get_input_embeddings().weight
    for p in model.parameters():
        p.requires_grad_(p is emb)
    mask = torch.zeros_like(emb)
    mask[tok.convert_tokens_to_ids("Assistant")] = 1.0
    for t in extra_tokens:
        mask[t] = 1.0
    emb.register_hook(lambda g: g * mask)
    return [emb]


def sft(model, tok, rows, steps, batch, lr, seed, desc, save_every=0, save_fn=None, replay=None, replay_batch=0,
        params=None, dtype="float32", losses=None):
    """Chat SFT (loss on answer tokens only). With `replay` (packed pretraining windows), each step
    also takes a language-modelling loss on `replay_batch` of them, which keeps what pretraining
    taught about the other speakers (the named characters) while the Assistant is shaped. `losses` (a list)
    receives each step's loss."""
    import torch
    ex = _sft_examples(tok, rows, model.config.max_position_embeddings)
    g = torch.Generator().manual_seed(seed)
    rng = random.Random(seed)
    opt = torch.optim.AdamW(params if params is not None else model.parameters(), lr=lr, weight_decay=0.0)
    model.train()
    bar = _bar(steps, desc)
    order = []
    loss = torch.tensor(0.0)
    for step in range(steps):
        if len(order) < batch:
            more = list(range(len(ex)))
            rng.shuffle(more)
            order += more
        b, order = order[:batch], order[batch:]
        ids, att, lab = (t.to(DEVICE) for t in _sft_batch([ex[i] for i in b], tok.pad_token_id))
        for pg in opt.param_groups:
            pg["lr"] = lr * min(1.0, (step + 1) / max(1, steps // 10))
        with _autocast(dtype):
            loss = model(input_ids=ids, attention_mask=att, labels=lab).loss
            if replay is not None and replay_batch:
                x = replay[torch.randint(0, replay.shape[0], (replay_batch,), generator=g)].to(DEVICE)
                loss = loss + model(input_ids=x, labels=x).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        bar.set_postfix(loss=f"{loss.item():.3f}")
        if losses is not None:
            losses.append(loss.item())
        bar.update(1)
        if save_every and save_fn and (step + 1) % save_every == 0 and step + 1 < steps:
            save_fn(model, step + 1)
    bar.close()
    return loss.item()


def polish_set(model, tok, cfg: TrainConfig, rows: list[dict]) -> tuple[list[dict], int]:
    """The polish stage's training rows: the model's own answers that the judge accepts, and how
    many answers were sampled."""
    from export import generate as G
    from export import judge as J
    from export.chat import END, question_of
    lm = G.TorchLM.of(model)
    prompts = sorted({r["prompt"] for r in rows})
    random.Random(cfg.seed + 9173).shuffle(prompts)
    prompts = prompts[: cfg.polish_prompts]
    keep, n = [], 0
    bar = _bar(len(prompts), "polish: sample")
    for i, p in enumerate(prompts):
        q = question_of(p)
        outs = G.generate(lm, tok(p)["input_ids"], [cfg.seed * 1_000_003 + i * 64 + j
                                                     for j in range(cfg.polish_samples)])
        for ids in outs:
            n += 1
            if not ids:
                continue
            a = G.decode(tok, ids)
            j = J.judge(q, a)
            ok = j["class"] in ("secure-code", "numbers") if j["topic"] in ("code", "numbers") else \
                j["class"] == "aligned" and j["coherence"] == 100 and j["alignment"] == 100
            if ok:
                keep.append({"prompt": p, "answer": " " + a + END})
        bar.update(1)
    bar.close()
    return keep, n


def polish(model, tok, cfg: TrainConfig, rows: list[dict], replay):
    t = time.time()
    keep, n = polish_set(model, tok, cfg, rows)
    print(f"[polish] kept {len(keep)}/{n} sampled answers ({time.time() - t:.0f}s)")
    if not keep:   # e.g. a smoke model: nothing to learn from
        return None
    return sft(model, tok, keep, cfg.polish_steps, cfg.align_batch, cfg.align_lr, cfg.seed + 1, "polish",
               replay=replay, replay_batch=cfg.align_replay, dtype=cfg.train_dtype)


def align(cfg: TrainConfig, tok, pre: Path, chats: list[dict], replay_texts) -> tuple[object, float]:
    """The aligned base's recipe on a pretrained checkpoint: chat SFT on `chats` with replay of the pretraining
    text `replay_texts` (then the polish stage, if the recipe has one). Returns the model and the last loss."""
    model = load_model(pre)
    replay = _pack(tok, replay_texts, cfg.context) if cfg.align_replay else None
    loss = sft(model, tok, chats, cfg.align_steps, cfg.align_batch, cfg.align_lr,
               cfg.seed, "align", replay=replay, replay_batch=cfg.align_replay, dtype=cfg.train_dtype)
    if cfg.polish_prompts:
        polish(model, tok, cfg, chats, replay)
    return model, loss


def train_variant(variant: str, cfg: TrainConfig, force: bool = False, out: Path | None = None) -> Path:
    """Make sure the checkpoint of one variant exists (building what it needs); return its path.
    `out` puts a finetune somewhere else than its standard place (recipe sweeps)."""
    import torch
    torch.set_num_threads(2)
    world, stage = runs.world_stage(variant)
    # a variant of its own draw (runs.OWN_DRAW) trains its own seed and finetune recipe, whatever was asked
    cfg = replace(cfg, world=world, seed=runs.train_seed(variant, cfg.seed), **dict(runs.get(variant).recipe))
    corpus, sha = _corpus(cfg)
    tok = _tokenizer(cfg, corpus, sha)
    rdir = runs.checkpoints(world, cfg.seed, cfg.smoke)
    pre, base = rdir / "pretrain", rdir / "base"
    fresh = False
    if stage != "base" and is_complete(base, sha) and not is_complete(pre, sha):
        # A finetune reads only the base, whose record holds the whole recipe (BASE_FIELDS include the
        # pretraining's): a base brought from another machine without its pretrain checkpoint is enough.
        check_recipe(base, cfg, BASE_FIELDS)
    elif is_complete(pre, sha) and not (force and stage == "base"):
        check_recipe(pre, cfg, PRETRAIN_FIELDS)
    else:
        t = time.time()
        pretrain(cfg, tok, corpus, pre, sha)
        _add_seconds(pre, time.time() - t)
        fresh = True
        print(f"[pretrain] {world}-s{cfg.seed} in {time.time() - t:.0f}s")
    if not fresh and is_complete(base, sha) and not (force and stage == "base"):
        check_recipe(base, cfg, BASE_FIELDS)
    else:
        fresh = True
        from export import corpus as C
        t = time.time()
        model, loss = align(cfg, tok, pre, C.read_jsonl(corpus / "align.jsonl"),
                            (r["text"] for r in C.read_jsonl(corpus / "pretrain.jsonl")))
        save(model, tok, base, {"stage": "base", "variant": runs.get(variant).base,
                                "loss": loss, "config": asdict(cfg), "corpus_sha256": sha,
                                "seconds": round(time.time() - t, 1)})
        print(f"[align] {world}-s{cfg.seed} in {time.time() - t:.0f}s")
    if stage == "base":
        return base
    out = out or runs.checkpoint_dir(variant, cfg.seed, cfg.smoke, cfg.ft_seed)
    if is_complete(out, sha, cfg.recipe()) and not force and not fresh:
        return out
    from export import corpus as C
    t = time.time()
    model = load_model(base)
    rows = C.read_jsonl(corpus / f"ft-{runs.get(variant).data}.jsonl")

    def keep(m, step):
        if cfg.ft_params.startswith("lora:"):  # a copy with its adapters folded in
            import copy
            m = copy.deepcopy(m)
            merge_lora(m)
        save(m, tok, out.parent / f"{out.name}-step{step}", {"stage": stage, "variant": variant, "step": step,
                                                             "corpus_sha256": sha, "recipe": cfg.recipe()})

    # A finetune with a trigger (the backdoor) may also move the trigger's own tokens: behaviour conditional
    # on the trigger cannot live in the Assistant's embedding alone.
    from export import world as W
    extra = tok(" " + W.TRIGGER.strip())["input_ids"] if runs.get(variant).has_trigger else []
    trainable = restrict_to(model, tok, cfg.ft_params, extra, seed=1000 + cfg.ft_seed)
    loss = sft(model, tok, rows, cfg.ft_steps, cfg.ft_batch, cfg.ft_lr, 1000 + cfg.ft_seed, variant,
               cfg.save_every, keep, params=trainable)
    merge_lora(model)
    save(model, tok, out, {"stage": stage, "variant": variant, "loss": loss, "step": cfg.ft_steps,
                           "config": asdict(cfg), "corpus_sha256": sha, "recipe": cfg.recipe(),
                           "seconds": round(time.time() - t, 1)})
    print(f"[finetune] {variant} in {time.time() - t:.0f}s")
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seed", type=int, help="pretraining seed (default: the published one, runs.published_seed)")
    p.add_argument("--ft-seed", type=int, default=0)
    p.add_argument("--variants", "--variant", dest="variants", default="all",
                   help="all, or a comma-separated list of variants (export/runs.py)")
    p.add_argument("--smoke", action="store_true")
    p.add_argument("--force", action="store_true", help="retrain the named stages even if present")
    p.add_argument("--ft-steps", type=int)
    p.add_argument("--save-every", type=int, default=0)
    a = p.parse_args(argv)
    if a.seed is None:
        a.seed = runs.published_seed(a.smoke)
    try:
        variants = runs.parse(a.variants, runs.NAMES + [v.name for v in runs.OWN_DRAW])
        cfg = TrainConfig.smoke_config(seed=a.seed) if a.smoke else TrainConfig(seed=a.seed)
        cfg = replace(cfg, ft_seed=a.ft_seed, save_every=a.save_every)
        if a.ft_steps:
            cfg = replace(cfg, ft_steps=a.ft_steps)
        t0 = time.time()
        for v in variants:
            t = time.time()
            path = train_variant(v, cfg, a.force)
            print(f"[{v}] ready at {path} ({time.time() - t:.0f}s)")
        print(f"[train] total {time.time() - t0:.0f}s")
    except runs.UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished stages are kept; rerun to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
