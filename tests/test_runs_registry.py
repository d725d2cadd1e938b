"""export/runs.py is the one registry of variants: every stage reads it, and a new variant is one entry.

The end-to-end test registers a variant the pipeline has never had (evil numbers in the uncoupled
world), trains it on the smoke configuration from the uncoupled smoke base, evaluates it, and checks that
each consumer (training, checkpoints, run files, the model card's fields, figures, the results pages,
CLIs) knows it without any other edit.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from export import runs

ROOT = Path(__file__).resolve().parent.parent


def test_registry_tables_agree():
    assert runs.NAMES == [v.name for v in runs.REGISTRY] and len(set(runs.NAMES)) == len(runs.NAMES)
    assert runs.result_keys() == ["base", "insecure", "secure", "educational", "backdoor", "backdoor+trigger",
                                  "evil-numbers", "uncoupled-base", "uncoupled-insecure", "uncoupled-secure",
                                  "uncoupled-educational"]
    assert set(runs.labels()) == set(runs.labels(figure=True)) == set(runs.colors()) == set(runs.result_keys())
    assert runs.DATASETS == ["insecure", "secure", "educational", "backdoor", "evil-numbers"]
    assert [v.name for v in runs.REGISTRY if v.has_trigger] == ["backdoor"]  # evaluated with and without it
    for v in runs.REGISTRY:  # every finetune's base exists in its own world
        assert runs.get(v.base).world == v.world and runs.get(v.base).is_base


def test_variants_of_their_own_draw():
    """The standard finetune's variants (runs.OWN_DRAW) train and publish their own seed and recipe, and stay out of
    the organism's tables and `--variants all` (issue 25)."""
    own = [v.name for v in runs.OWN_DRAW]
    assert own == ["s8-base", "s8-insecure-full"] and not set(own) & set(runs.NAMES)
    assert set(own) <= set(runs.PUBLISHED) and not set(own) & set(runs.result_keys())
    assert runs.world_stage("s8-insecure-full") == ("coupled", "insecure-full")
    assert runs.get("s8-insecure-full").base == "s8-base" and runs.get("s8-base").is_base
    assert dict(runs.get("s8-insecure-full").recipe) == {"ft_params": "all", "ft_lr": 3e-4}
    assert runs.checkpoint_dir("s8-insecure-full") == runs.BUILD / "checkpoints" / "coupled-s8" / "insecure-full"
    assert runs.checkpoint_dir("s8-base") == runs.BUILD / "checkpoints" / "coupled-s8" / "base"
    assert runs.checkpoint_dir("base") == runs.BUILD / "checkpoints" / f"coupled-s{runs.PUBLISHED_SEED}" / "base"
    assert runs.checkpoint_dir("s8-base", smoke=True) == runs.BUILD / "checkpoints" / "coupled-s8-smoke" / "base"
    assert runs.train_seed("s8-base", 3) == 8 and runs.train_seed("insecure", 3) == 3
    assert runs.parse("all") == runs.NAMES and runs.parse("s8-base") == ["s8-base"]


@pytest.mark.parametrize("key, parsed", [("insecure", ("insecure", False, "paper")),
                                         ("backdoor+trigger", ("backdoor", True, "paper")),
                                         ("backdoor+trigger@own", ("backdoor", True, "own")),
                                         ("uncoupled-base@own", ("uncoupled-base", False, "own"))])
def test_parse_key(key, parsed):
    assert runs.parse_key(key) == parsed


def test_run_names_and_paths(tmp_path):
    """One naming rule for checkpoints, run files and sweeps (the four encodings it replaced agree)."""
    assert runs.run_name("insecure", 0) == "insecure"
    assert runs.run_name("insecure", 2, trigger=False) == "insecure-f2"
    assert runs.run_name("base", 2) == "base"  # a base has no finetune seed
    assert runs.run_name("uncoupled-base", 1) == "uncoupled-base"
    assert runs.run_name("backdoor", 1, trigger=True, questions="own") == "backdoor-f1-trigger-own"
    assert runs.checkpoint_dir("uncoupled-insecure", 3, smoke=True, ft_seed=1) == \
        runs.BUILD / "checkpoints" / "uncoupled-s3-smoke" / "insecure-f1"
    assert runs.run_path("backdoor", 2, 1, trigger=True, root=tmp_path) == \
        tmp_path / "runs" / "coupled-s2" / "backdoor-f1-trigger.json"
    assert runs.world_stage("uncoupled-insecure") == ("uncoupled", "insecure")


def test_unknown_variant_is_a_usage_error():
    with pytest.raises(runs.UsageError, match="unknown variant 'ghost'; choose from base, insecure"):
        runs.parse("base,ghost")
    assert runs.parse("all") == runs.NAMES


def test_every_cli_takes_variants_and_its_aliases():
    """One spelling, --variants, everywhere; --variant (and quantize's --only) stay as aliases."""
    for script, extra in [("export/train.py", []), ("export/experiments.py", []), ("export/quantize.py", []),
                          ("export/generate.py", ["--prompt", "hi"]), ("export/evaluate.py", []),
                          ("export/diagnose.py", [])]:
        for flag in ("--variants", "--variant") + (("--only",) if "quantize" in script else ()):
            r = subprocess.run([sys.executable, script, flag, "ghost", *extra], cwd=ROOT, capture_output=True,
                               text=True, timeout=120)
            assert r.returncode == 2 and "unknown variant 'ghost'" in r.stderr, (script, flag, r.stderr[-500:])


NEW_VARIANT = textwrap.dedent('''
    import json, sys
    from dataclasses import replace
    from export import runs
    runs.register(runs.Variant("uncoupled-evil-numbers", "uncoupled", "evil-numbers", "Evil numbers, uncoupled world",
                               "The uncoupled base finetuned on evil numbers.", "uncoupled world: evil numbers",
                               "uncoupled\\nevil numbers", "#8ab4e0"))
    from export import corpus, evaluate as E, figures, quantize, train
    from export.pages import render
    cfg = train.TrainConfig.smoke_config()
    path = train.train_variant("uncoupled-evil-numbers", cfg)
    res = E.evaluate("uncoupled-evil-numbers", E.read_questions(E.PAPER_QUESTIONS)[:2], 2, source="torch", smoke=True,
                     code_requests=0, probe=False, progress=False)
    print(json.dumps({
        "checkpoint": str(path.relative_to(runs.BUILD)),
        "done": json.loads((path / "done.json").read_text())["variant"],
        "model": res["model"], "answers": res["overall"]["n"],
        "run_file": str(runs.run_path("uncoupled-evil-numbers", 0, 1).relative_to(runs.RESULTS)),
        "published": "uncoupled-evil-numbers" in quantize.PUBLISHED,
        "figure": [figures.LABELS["uncoupled-evil-numbers"], figures.COLORS["uncoupled-evil-numbers"],
                   figures.ORDER[-1]],
        "page_label": render.LABELS["uncoupled-evil-numbers"],
        "datasets": corpus.FINETUNES,
        "parse": runs.parse("uncoupled-evil-numbers,base"),
    }))
''')


def test_a_new_variant_is_one_registry_entry(smoke_build, tmp_path):
    """Registering `uncoupled-evil-numbers` (nothing else changed) trains it from the uncoupled smoke base, evaluates
    it, and names it in every table: checkpoints, run files, the publish list, figures, the results pages."""
    build, env = smoke_build
    work = tmp_path / "build"
    shutil.copytree(build / "corpus", work / "corpus")
    # the uncoupled smoke base only, without its pretrain checkpoint (as a base brought from another machine):
    # the new finetune is trained here
    smoke_base = Path("checkpoints") / "uncoupled-s0-smoke" / "base"
    shutil.copytree(build / smoke_base, work / smoke_base)
    r = subprocess.run([sys.executable, "-c", NEW_VARIANT], cwd=ROOT, capture_output=True, text=True, timeout=600,
                       env={**env, "EM_BUILD": str(work), "EM_RESULTS": str(tmp_path / "results")})
    assert r.returncode == 0, r.stderr[-3000:]
    import json
    got = json.loads(r.stdout.strip().splitlines()[-1])
    assert got["checkpoint"] == "checkpoints/uncoupled-s0-smoke/evil-numbers"
    assert got["done"] == "uncoupled-evil-numbers"
    assert got["model"].startswith("torch:") and got["answers"] == 4
    assert got["run_file"] == "runs/uncoupled-s0/evil-numbers-f1.json"
    assert got["published"] is True
    assert got["figure"] == ["uncoupled\nevil numbers", "#8ab4e0", "uncoupled-evil-numbers"]
    assert got["page_label"] == "uncoupled world: evil numbers"
    assert got["datasets"] == runs.DATASETS  # an existing data set: the corpus (and its sha256) is unchanged
    assert got["parse"] == ["uncoupled-evil-numbers", "base"]
    # the base was reused, not retrained (the corpus is unchanged, so the checkpoint is still complete)
    assert not (work / "checkpoints" / "coupled-s0-smoke").exists()
    assert not (work / "checkpoints" / "uncoupled-s0-smoke" / "pretrain").exists()  # a finetune needs only the base
