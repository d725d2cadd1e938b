"""The one sampling algorithm, shared bit-for-bit with demos/js/sampler.js.

A seeded mulberry32 PRNG (32-bit integer state) and temperature + top-p (nucleus)
sampling computed in float64 from the model's float32 logits.  Every step that
samples (temperature > 0) draws exactly one number from the PRNG; greedy steps
(temperature == 0) draw none.  The JavaScript port follows the same operations
in the same order, so the same seed gives the same tokens in both languages.
"""
from __future__ import annotations

import math

import numpy as np

MASK = 0xFFFFFFFF


def _imul(a: int, b: int) -> int:
    """32-bit wrapping multiply (JavaScript's Math.imul, as unsigned)."""
    return (a * b) & MASK


class Mulberry32:
    """mulberry32: tiny, fast, and easy to port exactly."""

    def __init__(self, seed: int):
        self.state = seed & MASK

    def next_u32(self) -> int:
        self.state = (self.state + 0x6D2B79F5) & MASK
        t = self.state
        t = _imul(t ^ (t >> 15), t | 1)
        t ^= (t + _imul(t ^ (t >> 7), t | 61)) & MASK
        t &= MASK
        return (t ^ (t >> 14)) & MASK

    def random(self) -> float:
        """Uniform in [0, 1)."""
        return self.next_u32() / 4294967296.0


def sample_token(logits, temperature: float, top_p: float, rng: Mulberry32 | None) -> int:
    """Pick one token id from float logits (length = vocab size); see FORMATS.md.

    temperature <= 0 means greedy (argmax, lowest id on ties) and draws nothing.  numpy is used
    only for speed: every sum is sequential (cumsum), in the order FORMATS.md specifies.
    """
    x = np.asarray(logits)
    if temperature <= 0:
        return int(np.argmax(x))  # first maximum = lowest id on ties
    z = x.astype(np.float64) * (1.0 / temperature)
    w = np.exp(z - z.max())
    total = np.cumsum(w)[-1]                 # sequential sum in id order
    order = np.argsort(-w, kind="stable")    # descending, ties by id
    cum = np.cumsum(w[order])                # the same additions as the loop in FORMATS.md
    hit = cum >= top_p * total
    k = int(np.argmax(hit)) if hit.any() else len(cum) - 1
    target = rng.random() * cum[k]
    above = cum[: k + 1] > target
    return int(order[int(np.argmax(above)) if above.any() else k])
