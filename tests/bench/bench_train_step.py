"""Benchmark: seconds per pretraining step of the shipped model, eager or torch.compile (prints figures).

    .venv/bin/python tests/bench/bench_train_step.py [eager|compile] [--steps 10]

One random batch of TrainConfig's pretraining shape (batch x context tokens), 2 threads, AdamW as in
export/train.py: 3 warm-up steps (for `compile`, these include the compilation), then the mean of --steps.
export/NOTEBOOK.md, 23.
"""
import argparse
import sys
import time
from pathlib import Path



def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("mode", nargs="?", default="eager", choices=("eager", "compile"))
    p.add_argument("--steps", type=int, default=10)
    a = p.parse_args()
    import torch
    from export import train
    torch.set_num_threads(2)
    cfg = train.TrainConfig()
    model = train.new_model(cfg, cfg.vocab)  # the model pretraining builds (export/train.py)
    if a.mode == "compile":
        model.forward = torch.compile(model.forward)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.pretrain_lr, weight_decay=0.1, betas=(0.9, 0.95))
    x = torch.randint(3, cfg.vocab, (cfg.pretrain_batch, cfg.context))

    def step():
        loss = model(input_ids=x, labels=x).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    t = time.time()
    for _ in range(3):
        step()
    print(f"{a.mode}: warm-up (3 steps) {time.time() - t:.1f} s", flush=True)
    t = time.time()
    for _ in range(a.steps):
        step()
    print(f"{a.mode}: {(time.time() - t) / a.steps:.3f} s per pretraining step "
          f"({cfg.pretrain_batch} x {cfg.context} tokens)")


if __name__ == "__main__":
    main()
