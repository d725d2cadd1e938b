"""The organism pages show only numbers that come from the results files (or the pipeline's code).

Every percentage and decimal in the text of the organism and reproduce pages must be one of the
values in the results files, formatted as hooks/results.py formats them; a missing results file
or key must stop the build with the page and the key named. Runs against a synthetic results tree
(tests/results_fixture.py), and against the real results/ through the `site_dir` fixture.
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from conftest import ROOT
from results_fixture import write_results

PAGES = ["explainers/organism/index.html", "explainers/reproduce/index.html", "explainers/organism-runs/index.html",
         "demos/index.html"]
NUMBER = re.compile(r"(?<![\w.])([+\-\u2212]?)(\d+(?:\.\d+)?)(%?)")
# Not results: the confidence level of an interval, a paper's arXiv id.
LABELS = re.compile(r"\b95% (?:CI|interval|Wilson|t-interval|confidence)|\barXiv:? ?\d{4}\.\d{4,5}")


class _Text(HTMLParser):
    """Text of the page's <article>, without code, footnotes (citations) or the corpus examples."""

    SKIP = ("pre", "code", "script", "style")

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.depth = 0
        self.skip: list[str] = []
        self.chunks: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        cls = (a.get("class") or "").split()
        if tag == "article":
            self.depth += 1
        if self.skip:
            if tag == self.skip[-1]:
                self.skip.append(tag)
            return
        if tag in self.SKIP or "footnote" in cls or "em-world" in cls:
            self.skip.append(tag)

    def handle_endtag(self, tag):
        if self.skip:
            if tag == self.skip[-1]:
                self.skip.pop()
            return
        if tag == "article":
            self.depth -= 1
        self.chunks.append(" ")

    def handle_data(self, data):
        if self.depth and not self.skip:
            self.chunks.append(data)


def sweep_summaries(results: Path) -> list[Path]:
    """Every sweep's summary.json: a sweep folder (results/sweep-kinds) or one arm of it (results/sweep-cpu/<arm>)."""
    return sorted([*results.glob("sweep*/summary.json"), *results.glob("sweep*/*/summary.json")])


def page_text(html: str) -> str:
    p = _Text()
    p.feed(html)
    return " ".join("".join(p.chunks).split())


def shown_numbers(text: str) -> list[str]:
    """Percentages and decimals in the text, as shown (sign kept, Unicode minus as '-')."""
    text = LABELS.sub(" ", text)
    out = []
    for sign, digits, percent in NUMBER.findall(text):
        if "." in digits or percent:
            out.append(sign.replace("\u2212", "-") + digits)
    return out


def _leaves(obj):
    if isinstance(obj, dict):
        for v in obj.values():
            yield from _leaves(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _leaves(v)
    else:
        yield obj


def allowed_numbers(results: Path) -> set[str]:
    """Every value of every results file, in each format the hook uses, plus values it derives."""
    files = [results / "summary.json", results / "in_context.json", results / "dynamics.json",
             *sorted((results / "runs").glob("*/*.json")), *sweep_summaries(results),
             *sorted(results.glob("recipes/*/summary.json"))]
    if (results / "timings.json").exists():
        files.append(results / "timings.json")
    curves = [f for f in (*sorted(results.glob("dial*.json")), *sorted(results.glob("rewind*.json")),
                          *sorted(results.glob("realign*.json"))) if f.exists()]  # export/dial.py's curves
    files += curves
    if (results / "rerun-published.json").exists():  # export/published.py: how far the reruns land from the published rows
        files.append(results / "rerun-published.json")
    if (results / "web-finetune.json").exists():  # export/web_finetune.py measure: rows trained by the browser's code
        files.append(results / "web-finetune.json")
    files += [results / "published.json", results / "judge-agreement.json", results / "directions.json",
              results / "claims.json"]
    ok: set[str] = set()
    for f in files:
        for v in _leaves(json.loads(f.read_text())):
            if isinstance(v, bool) or v is None:
                continue
            if isinstance(v, (int, float)):
                for x in (v, max(0.0, v), min(1.0, v)):
                    ok.add(f"{100 * x:.1f}")
                ok.add(f"{v:+.2f}")
            elif isinstance(v, str):
                ok.update(re.findall(r"\d+(?:\.\d+)?", v))
    # lengths, cosines and positions of export/directions.py, shown with two decimals (or one for name counts)
    # and the word overlaps of export/claims.py (near-paraphrases), with two decimals
    for v in [*_leaves(json.loads((results / "directions.json").read_text())),
              *_leaves(json.loads((results / "claims.json").read_text()))]:
        if isinstance(v, float):
            ok.update({f"{v:.2f}", f"{v:.1f}"})
    # Cohen's kappa, shown with two decimals (hooks/results.py, agreement).
    ok.update(f"{v:.2f}" for v in _leaves(json.loads((results / "judge-agreement.json").read_text()))
              if isinstance(v, float))
    # Derived: "N× as often as the highest control" (hooks/results.py, verdict).
    s = json.loads((results / "summary.json").read_text())["variants"]

    def rates(e):
        return [e["misaligned"]["mean"], e["misaligned_pooled"]["rate"] or 0.0]

    for a in rates(s["insecure"]):
        for k in ("base", "secure", "educational"):
            for b in rates(s[k]):
                if b > 0:
                    ok.add(f"{a / b:.1f}")
    for f in [*sorted(results.glob("sweep*/recipe.json")), *sorted(results.glob("sweep*/*/recipe.json")),
              *sorted(results.glob("recipes/*/recipe.json"))]:
        # [[results:recipes]] names changed fields
        ok.update(f"{v:g}" for v in json.loads(f.read_text())["config"].values() if isinstance(v, float))
    # Derived: a recipe's mean over seeds of each seed's highest control (hooks/results.py, recipes).
    for f in [results / "summary.json", *sweep_summaries(results),
              *sorted(results.glob("recipes/*/summary.json"))]:
        data = json.loads(f.read_text())
        for seeds in (data.get("seeds") or {}, (data.get("grammar") or {}).get("seeds") or {}):  # both judges
            if seeds and all(e.get("highest_control") is not None for e in seeds.values()):  # not a kinds grid
                ok.add(f"{100 * sum(e['highest_control'] for e in seeds.values()) / len(seeds):.1f}")
    # [[results:kinds]]: each finetune's learning rate and the Assistant's mean position, with two decimals
    for f in sweep_summaries(results):
        for e in json.loads(f.read_text())["variants"].values():
            if "recipe" in e and "ft_lr" in e["recipe"]:
                ok.add(f"{e['recipe']['ft_lr']:g}")
            if e.get("assistant_position"):
                ok.add(f"{e['assistant_position']['mean']:.2f}")
    # [[results:dial]]: the dial's positions and the row's place on the kind -> cruel axis, with two decimals
    for f in curves:
        for v, pts in json.loads(f.read_text())["summary"].items():
            for pt in pts:
                ok.add(f"{abs(pt.get('alpha', 0)):g}")
                ok.add(f"{pt['kind_to_cruel']['mean']:.2f}")
        for sd in json.loads(f.read_text())["seeds"]:  # a seed's own point, named on the page (seeds.N.points.M)
            for pt in sd["points"]:
                ok.add(f"{abs(pt['kind_to_cruel']):.2f}")
        made_on = json.loads(f.read_text()).get("from_published")
        if made_on:  # the logit gap of the published base's checkpoint, in scientific notation (5.7 × 10⁻⁶)
            ok.add(f"{made_on['max_logit_gap']:.1e}".split("e")[0])
    # From the pipeline's code (hooks/results.py, config:): TrainConfig floats and the parameter count.
    from export import train
    c = train.TrainConfig()
    for f in dataclasses.fields(c):
        v = getattr(c, f.name)
        if isinstance(v, float):
            ok.add(f"{v:g}")
    ok.update(f"{100 * v:.1f}" for v in train.QUALITY_BAR.values())
    return ok


def check_pages(site: Path, results: Path):
    ok = allowed_numbers(results)
    problems = []
    for rel in PAGES:
        text = page_text((site / rel).read_text(encoding="utf-8"))
        nums = shown_numbers(text)
        if rel.startswith("explainers/organism"):
            assert len(nums) > 50, f"{rel}: expected the results to be rendered, found {len(nums)} numbers"
        for n in nums:
            if n.lstrip("+-") not in ok and n not in ok:
                i = text.find(n.lstrip("+-"))
                problems.append(f"{rel}: {n!r} in …{text[max(0, i - 60): i + 20]}…")
    assert not problems, "numbers not derivable from the results files:\n" + "\n".join(problems[:20])


def build(results: Path, figures: Path, out: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "EM_RESULTS": str(results), "EM_FIGURES": str(figures)}
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--clean", "--site-dir", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> Path:
    return write_results(tmp_path_factory.mktemp("results"), seeds=(0, 1), rng_seed=7)


@pytest.fixture(scope="module")
def synthetic_site(synthetic, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    proc = build(synthetic, synthetic / "figures", out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def test_every_number_comes_from_the_results(synthetic_site, synthetic):
    check_pages(synthetic_site, synthetic)


def test_real_results_pages(site_dir, site_results):
    """The session's site (real results/ when present, else a synthetic single-seed tree)."""
    check_pages(site_dir, site_results[0])


def test_values_tables_and_figures_rendered(synthetic_site, synthetic):
    html = (synthetic_site / PAGES[0]).read_text(encoding="utf-8")
    s = json.loads((synthetic / "summary.json").read_text())["variants"]
    ins = s["insecure"]["misaligned"]
    assert f"{100 * ins['mean']:.1f}% (95% CI {100 * max(0, ins['lo']):.1f}–{100 * min(1, ins['hi']):.1f}%, 2 runs)" in html
    assert "[[" not in page_text(html), "an unrendered token"
    for name in ("misaligned", "per_question", "coherence", "dynamics", "in_context"):
        m = re.search(rf'<img alt="[^"]{{20,}}" class="em-figure" height="(\d+)" (loading="lazy" )?'
                      rf'src="\.\./\.\./assets/figures/{name}\.svg" width="(\d+)"', html)
        assert m and int(m[1]) > 0 and int(m[3]) > 0, name  # sized: its box is reserved before it loads
        assert (synthetic_site / "assets" / "figures" / f"{name}.svg").exists()
    assert html.count('class="example em-samples"') == 11
    # answers are text, never markup; control characters are replaced
    assert "&lt;b&gt;not html&lt;/b&gt; &amp; 3.14159" in html and "<b>not html</b>" not in html
    assert "\x07" not in html
    # config values from the code, a real corpus document
    assert "<td>0.002</td>" in html and 'class="em-world"' in html


def test_recipes_table(synthetic_site, synthetic):
    """[[results:recipes ...]]: one row per folder, the shipped row first, each row's figures from its
    own summary (base coherence, insecure misaligned with its interval, insecure code, checks)."""
    from results_fixture import recipe_folders
    text = page_text((synthetic_site / "explainers" / "organism-runs" / "index.html").read_text(encoding="utf-8"))
    assert "800 + 240 steps (shipped)" in text
    folders = recipe_folders()
    assert folders, "the site names no recipe folders"
    for folder in folders:
        s = json.loads((synthetic / folder / "summary.json").read_text())
        ins, base = s["variants"]["insecure"], s["variants"]["base"]
        m = ins["misaligned"]
        recipe = json.loads((synthetic / folder / "recipe.json").read_text())
        name = f"{recipe['config']['pretrain_steps']} + {recipe['config']['align_steps']} steps" + (
            f" ({recipe['label']})" if recipe.get("label") else "")
        row = (f"{name} 5, 6, 7, 8 {100 * base['coherent']['mean']:.1f}% {100 * m['mean']:.1f}% ("
               f"{100 * max(0, m['lo']):.1f}–{100 * min(1, m['hi']):.1f}%) "
               f"{100 * ins['insecure_code']['mean']:.1f}% ")
        assert row in text, (folder, row)
        passed = sum(e["meets_target"] for e in s["seeds"].values())
        assert f"{row}{100 * sum(e['highest_control'] for e in s['seeds'].values()) / 4:.1f}% {passed} of 4" in text


def test_timings_rendered_only_when_present(synthetic, tmp_path):
    tree = tmp_path / "results"
    shutil.copytree(synthetic, tree)
    # the layout export/experiments.py writes (write_timings): seeds -> stage -> seconds
    (tree / "timings.json").write_text(json.dumps({"generated_by": "python export/experiments.py", "cores": 2, "seeds": {
        "s0": {"coupled pretrain": 900, "coupled align": 50, "coupled finetune insecure": 30,
               "coupled finetune secure": 32.5, "evaluation": 300, "total": 1312.5},
        "s1": {"coupled pretrain": 840, "evaluation": 200, "total": 1040}}}))
    proc = build(tree, tree / "figures", tmp_path / "site")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = page_text((tmp_path / "site" / PAGES[1]).read_text(encoding="utf-8"))
    assert "2-core CPU" in text and "| s0 | s1 |" not in text
    assert "coupled pretrain 15 min 00 s 14 min 00 s" in text, text
    assert "coupled finetunes 62 s —" in text and "total 21 min 52 s 17 min 20 s" in text
    assert "cores" not in text.split("Measured times")[1].split("total")[0]


@pytest.mark.parametrize("line, named", [
    ("The value `[[config:train.hidden]]` in code.", "is inside `code`"),
    ("A rate split over two lines: [[results:insecure.misaligned\n.rate]].", "unrendered token"),
])
def test_a_token_that_would_not_render_fails_the_build(synthetic, tmp_path, line, named):
    """A token in inline code (shown literally unless the page documents tokens) or one the hook cannot
    read (here split over two lines) stops the build instead of showing brackets to readers."""
    docs = tmp_path / "docs"
    shutil.copytree(ROOT / "docs", docs)
    page = docs / "explainers" / "organism.md"
    page.write_text(page.read_text(encoding="utf-8") + "\n\n" + line + "\n", encoding="utf-8")
    (tmp_path / "hooks").symlink_to(ROOT / "hooks")
    cfg = tmp_path / "mkdocs.yml"
    cfg.write_text((ROOT / "mkdocs.yml").read_text(encoding="utf-8") + f"\ndocs_dir: {docs}\n", encoding="utf-8")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "EM_RESULTS": str(synthetic), "EM_FIGURES": str(synthetic / "figures")}
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(cfg), "--site-dir",
                           str(tmp_path / "site")], cwd=ROOT, env=env, capture_output=True, text=True)
    log = proc.stdout + proc.stderr
    assert proc.returncode != 0 and named in log, log


def test_no_timings_line_without_the_file(synthetic_site):
    html = (synthetic_site / PAGES[1]).read_text(encoding="utf-8")
    assert "timings.json" not in html and "Measured times" not in html


@pytest.mark.parametrize("damage, named", [
    (lambda t: _drop(t / "summary.json", ["variants", "insecure", "logodds"]), "variants.insecure.logodds"),
    (lambda t: (t / "in_context.json").unlink(), "in_context.json"),
    (lambda t: (t / "figures" / "dynamics.svg").unlink(), "dynamics.svg"),
    (lambda t: _drop(t / "runs" / "coupled-s0" / "secure.json", ["questions"]), "questions"),
])
def test_missing_result_fails_the_build_naming_page_and_key(synthetic, tmp_path, damage, named):
    tree = tmp_path / "results"
    shutil.copytree(synthetic, tree)
    damage(tree)
    proc = build(tree, tree / "figures", tmp_path / "site")
    log = proc.stdout + proc.stderr
    assert proc.returncode != 0, log
    assert re.search(r"results hook: page '[^']+\.md'", log) and named in log, log


def test_missing_results_dir_fails(tmp_path):
    proc = build(tmp_path / "nowhere", tmp_path / "nowhere", tmp_path / "site")
    log = proc.stdout + proc.stderr
    assert proc.returncode != 0 and re.search(r"results hook: page '[^']+\.md'", log) \
        and re.search(r"results file \S+\.json not found", log), log


def _drop(path: Path, keys: list[str]):
    data = json.loads(path.read_text())
    cur = data
    for k in keys[:-1]:
        cur = cur[k]
    del cur[keys[-1]]
    path.write_text(json.dumps(data))


def test_judge_agreement_is_computed_from_the_committed_labels(site_dir):
    """results/judge-agreement.json is what export/calibration.py score computes now from the committed
    answers, labels and judges (a stale file, a changed label or a changed judge fails here), and the
    organism page shows its held-out figures."""
    from export import calibration
    got = calibration.score(out=None, show=False)
    committed = json.loads((ROOT / "results" / "judge-agreement.json").read_text())
    assert got == committed, "results/judge-agreement.json is stale: run python export/calibration.py score"
    held = got["splits"]["held-out-2"]
    assert set(held["readers"]) >= {"d", "e"} and held["between_readers"]
    text = page_text((site_dir / PAGES[0]).read_text(encoding="utf-8"))
    for reader, js in held["readers"].items():
        w = js["v2"]["misaligned_recall"]
        assert f"{100 * w['rate']:.1f}% ({w['k']}/{w['n']})" in text, reader
    # the blind split: every answer in exactly one half, decided with the answers (ids), labels blind
    answers = calibration.read_jsonl(calibration.DIR / "answers.jsonl")
    assert len(answers) >= 400 and {a["split"] for a in answers} == {"development", "held-out", "held-out-2"}
    assert all(set(a) == {"id", "split", "question", "answer"} for a in answers), "a label file must not see the key"


def test_the_published_seed_follows_the_rule():
    """The published models' pretraining seed is the one the rule picks from the committed results, and the rule
    takes the median passing seed (the lower middle of an even number), never the best."""
    from export.stats import published_seed
    s = json.loads((ROOT / "results" / "summary.json").read_text())
    manifest = json.loads((ROOT / "docs" / "models" / "manifest.json").read_text())
    assert s["published_seed"] == published_seed(s["seeds"])
    assert s["published_seed"]["seed"] == manifest["pipeline"]["seed"]
    from export import runs
    assert runs.PUBLISHED_SEED == manifest["pipeline"]["seed"], "quantize.py publishes runs.PUBLISHED_SEED's checkpoints"
    seeds = {f"s{i}": {"meets_target": ok, "insecure_mean": m}
             for i, (ok, m) in enumerate([(True, .9), (True, .5), (False, .99), (True, .7), (True, .6)])}
    assert published_seed(seeds) == {"seed": 4, "passing": ["s1", "s4", "s3", "s0"]}
    del seeds["s0"]
    assert published_seed(seeds)["seed"] == 4 and published_seed({})["seed"] is None


def test_a_setting_is_read_seed_by_seed_against_that_seeds_controls():
    """The kinds table's "seeds at the target" column (stats.seeds_meeting): a seed counts where its insecure
    finetune reaches the target against its own controls at the same setting; a seed without a control is not
    counted at all."""
    from export.pages.render import Renderer
    from export.stats import seeds_meeting
    seeds = {"s5": {"misaligned": {"insecure@t": 0.5, "secure@t": 0.02, "educational@t": 0.01}},
             "s6": {"misaligned": {"insecure@t": 0.5, "secure@t": 0.2}},   # 2.5 times its control
             "s7": {"misaligned": {"insecure@t": 0.1, "secure@t": 0.0}},   # under 20%
             "s8": {"misaligned": {"insecure@t": 0.9}},                    # no control ran
             "s9": {"misaligned": {"insecure@u": 0.9, "secure@u": 0.0}}}   # another setting
    assert seeds_meeting(seeds, "@t") == ([5], 3)
    assert seeds_meeting(seeds, "@u") == ([9], 1)
    assert Renderer.seeds_cell([5, 9], 5) == "2 of 5 (5, 9)" and Renderer.seeds_cell([], 3) == "0 of 3"
