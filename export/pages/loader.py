"""The results files a page reads ($EM_RESULTS, default results/), with errors that name what is missing."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

from export import runs
from export.runs import ROOT

DEFAULT_FIGURES = ROOT / "docs" / "assets" / "figures"


class Missing(Exception):
    """A results file or key that a page needs is not there."""


class Node(dict):
    """A JSON object that names its full key path and file when a key is missing."""

    def __init__(self, data: dict, file: str, path: str):
        super().__init__({k: _wrap(v, file, f"{path}.{k}" if path else str(k)) for k, v in data.items()})
        self.file, self.path = file, path

    def __missing__(self, key):
        raise Missing(f"key '{self.path + '.' if self.path else ''}{key}' missing in {self.file}")


def _wrap(v, file: str, path: str):
    if isinstance(v, dict):
        return Node(v, file, path)
    if isinstance(v, list):
        return [_wrap(x, file, f"{path}.{i}") for i, x in enumerate(v)]
    return v


def _pick(items: list, key: str):
    """A list's element by index ("2"), or, for "@8", the one element whose ``seed`` is 8: a page names a
    pretraining seed's curve by the seed, so adding a seed to a results file moves no other seed's numbers."""
    if not str(key).startswith("@"):
        return items[int(key)]
    hits = [x for x in items if isinstance(x, dict) and str(x.get("seed")) == key[1:]]
    if len(hits) != 1:
        raise KeyError(key)
    return hits[0]


class Results:
    def __init__(self, root: Path):
        self.root = root
        self._cache: dict[str, object] = {}

    def load(self, name: str):
        if name not in self._cache:
            path = self.root / name
            if not path.exists():
                raise Missing(f"results file {name} not found in {self.root} (set EM_RESULTS, or run "
                              f"python export/experiments.py)")
            try:
                self._cache[name] = _wrap(json.loads(path.read_text(encoding="utf-8")), name, "")
            except json.JSONDecodeError as e:
                raise Missing(f"results file {name} is not valid JSON: {e}")
        return self._cache[name]

    def get(self, name: str, *keys):
        cur = self.load(name)
        for i, k in enumerate(keys):
            try:
                cur = cur[k] if isinstance(cur, dict) else _pick(cur, k)
            except Missing:
                raise
            except (KeyError, IndexError, ValueError, TypeError):
                raise Missing(f"key {'.'.join(map(str, keys[: i + 1]))!r} missing in {name}")
        return cur

    def get_dotted(self, name: str, path: str):
        """A value by a dotted path, where a key may itself hold dots (a sweep's "insecure@full-lr0.0003"): at each
        level the longest run of the path's parts that names a key."""
        parts = [p for p in path.split(".") if p]
        keys, i = [], 0
        cur = self.load(name)
        while i < len(parts):
            j = i + 1
            if isinstance(cur, dict):
                j = next((j for j in range(len(parts), i, -1) if ".".join(parts[i:j]) in cur), j)
            k = ".".join(parts[i:j])   # a part that names no key: get() says which
            keys.append(k)
            cur = self.get(name, *keys)
            i = j
        return cur

    def variants(self) -> dict:
        return self.get("summary.json", "variants")

    def variant(self, key: str) -> dict:
        return self.get("summary.json", "variants", key)

    def run_file(self, key: str) -> tuple[str, dict]:
        """The evaluation of `key` (a summary key) for the lowest pretraining seed, finetune seed 0."""
        variant, trigger, questions = runs.parse_key(key)
        world = runs.world_of(variant)
        stage = variant[len(world) + 1:] if variant.startswith(world + "-") else variant
        seeds = sorted((int(m.group(1)), d.name) for d in (self.root / "runs").glob(f"{world}-s*")
                       if (m := re.fullmatch(rf"{world}-s(\d+)", d.name)))
        if not seeds:
            raise Missing(f"results file runs/{world}-s<seed>/{stage}.json not found in {self.root}")
        name = f"runs/{seeds[0][1]}/{runs.run_name(stage, 0, trigger, questions)}.json"
        return name, self.load(name)

    def optional(self, name: str):
        return self.load(name) if (self.root / name).exists() else None


def results_dir() -> Path:
    return Path(os.environ.get("EM_RESULTS") or ROOT / "results")


def figures_dir() -> Path:
    return Path(os.environ.get("EM_FIGURES") or DEFAULT_FIGURES)
