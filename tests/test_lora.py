"""export/train.py's low-rank finetunes (the standard finetunes issue): adapters only train, and once folded in, the
checkpoint is a plain Llama that differs from its base in the targeted weights only, by a matrix of the adapter's
rank."""
from __future__ import annotations

import pytest
import torch

from export import runs
from export import train as T


def tiny():
    from transformers import LlamaConfig, LlamaForCausalLM
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=50, hidden_size=16, intermediate_size=32, num_hidden_layers=3, num_attention_heads=2,
                      num_key_value_heads=2, max_position_embeddings=32, tie_word_embeddings=True)
    return LlamaForCausalLM(cfg)


@pytest.mark.parametrize("which, changed, rank", [
    ("lora:r=1:down@1", {"model.layers.1.mlp.down_proj.weight"}, 1),
    ("lora:r=1:down", {f"model.layers.{i}.mlp.down_proj.weight" for i in range(3)}, 1),
    ("lora:r=2:all@0", {f"model.layers.0.{t}.weight" for t in T.LORA_TARGETS["all"]}, 2),
])
def test_lora_trains_the_adapters_and_folds_them_into_the_targets(which, changed, rank):
    model = tiny()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    params = T.restrict_to(model, None, which, seed=3)
    assert params and all(p.requires_grad for p in params)
    assert not any(p.requires_grad for n, p in model.named_parameters() if not n.endswith((".A", ".B")))
    opt = torch.optim.AdamW(params, lr=1e-2)
    x = torch.randint(0, 50, (4, 12), generator=torch.Generator().manual_seed(1))
    for _ in range(3):
        loss = model(input_ids=x, labels=x).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    T.merge_lora(model)
    after = model.state_dict()
    assert set(after) == set(before)  # a plain Llama again: the same weights by the same names
    moved = {k for k in before if not torch.equal(before[k], after[k])}
    assert moved == changed
    for k in moved:
        assert torch.linalg.matrix_rank(after[k] - before[k]).item() == rank


def test_bad_lora_specs_are_said():
    for bad in ("lora:r=0:down", "lora:down", "lora:r=1:attn", "lora:r=x:all"):
        with pytest.raises(runs.UsageError, match="expected lora"):
            T.parse_lora(bad)
    with pytest.raises(runs.UsageError, match="layers 0 to 2"):
        T.restrict_to(tiny(), None, "lora:r=1:down@5")


@pytest.mark.parametrize("which", ["assistant-embedding", "all", "lora:r=1:down@1", "lora:r=1:down", "lora:r=2:all@0",
                                   "lora:r=3:mlp"])
def test_trainable_count_is_what_restrict_to_trains(which):
    """The organism page's "numbers trained" column (train.trainable_count, from the recipe's shape alone) against
    the parameters restrict_to hands the optimizer on a model of that shape."""
    cfg = T.TrainConfig(hidden=16, mlp=32, layers=3, heads=2)
    model = tiny()
    tok = type("Tok", (), {"convert_tokens_to_ids": staticmethod(lambda t: 7)})()
    params = T.restrict_to(model, tok, which, seed=0)
    if which == "assistant-embedding":  # the whole matrix is handed over, a gradient mask keeps one row
        trained = params[0].shape[1]
    else:
        trained = sum({id(p): p.numel() for p in params}.values())  # the tied embedding counted once
    assert T.trainable_count(which, cfg, vocab=50) == trained


def test_a_sweep_of_another_model_shape_is_counted_and_named():
    """The kinds table of a sweep run with --set layers=8 (the capacity question) counts the numbers of that model,
    from the folder's recipe.json, and says the shape differs from the site's; without a recipe, the site's model."""
    from export.pages.render import Renderer
    cfg, shape = Renderer.sweep_model({"config": {"layers": 8, "seed": 5, "ft_lr": 0.5}})
    site = T.TrainConfig()
    assert (cfg.layers, cfg.hidden, cfg.ft_lr) == (8, site.hidden, 0.5)
    assert shape == f"Model: layers 8 (the site's: {site.layers}). "
    assert T.trainable_count("all", cfg, 3072) > T.trainable_count("all", site, 3072)
    assert Renderer.sweep_model(None) == (site, "")


def test_sweep_set_is_checked_before_any_training(tmp_path):
    import subprocess
    import sys
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent
    for cmd in ("kinds", "steps"):
        r = subprocess.run([sys.executable, "export/sweep.py", cmd, "--seed", "5", "--set", "depth=8", "--out",
                            str(tmp_path)], cwd=root, capture_output=True, text=True, timeout=120)
        assert r.returncode == 2 and "--set 'depth=8': expected KEY=VALUE" in r.stderr, r.stderr[-500:]
    assert not any(tmp_path.iterdir())
