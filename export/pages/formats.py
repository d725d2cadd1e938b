"""How the results pages write values: rates with intervals, signed log-odds, durations, escaped text,
the world's transcripts. tests/test_results_pages.py formats the results files' values the same way."""
from __future__ import annotations

import html
import re

from export.runs import ROOT

EXPORT = ROOT / "export"
MINUS = "\u2212"
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # not allowed in HTML text


def pct(x) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def pct_bare(x) -> str:
    return f"{100 * x:.1f}"


def signed(x) -> str:
    if x is None:
        return "n/a"
    s = f"{x:+.2f}"
    return s.replace("-", MINUS)


def points(x) -> str:
    """A difference of two rates in percentage points, signed: +46.1, −0.8."""
    return "n/a" if x is None else f"{100 * x:+.1f}".replace("-", MINUS)


def num_f(x: float) -> str:
    """A measured quantity (a length, a cosine, a position) to two decimals, with a true minus."""
    return f"{x:.2f}".replace("-", MINUS)


def sci(x: float) -> str:
    """A small measured quantity in scientific notation, two significant digits: 5.7 × 10⁻⁶."""
    mant, exp = f"{x:.1e}".split("e")
    sup = str.maketrans("-0123456789", "\u207b\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079")
    return f"{mant.replace('-', MINUS)} \u00d7 10{str(int(exp)).translate(sup)}"


def interval(lo, hi) -> str:
    """A 95% interval of rates, clamped to [0, 1] (a mean ± t-interval over few seeds can leave it)."""
    return f"{pct_bare(max(0.0, lo))}–{pct_bare(min(1.0, hi))}%"


def _shown(entry: dict, metric: str) -> dict:
    """What a rate cell shows: the mean over runs with its t-interval when there are several runs,
    else the run's pooled Wilson interval (when recorded), else the bare entry."""
    e = entry[metric]
    if "mean" in e and not (e.get("lo") is not None and e.get("n", 1) >= 2):
        return entry.get(f"{metric}_pooled") or e
    return e


def rate_with_ci(entry: dict, metric: str) -> str:
    """Mean over runs with its t-interval over seeds when there are several, else the run's (pooled)
    Wilson interval."""
    e = _shown(entry, metric)
    if "mean" not in e:
        return wilson_text(e)
    if e.get("lo") is None or e.get("n", 1) < 2:
        return pct(e["mean"])
    return f"{pct(e['mean'])} (95% CI {interval(e['lo'], e['hi'])}, {e['n']} runs)"


def rate_short(entry: dict, metric: str) -> str:
    """rate_with_ci for table cells: the rate and its interval, without the counts."""
    e = _shown(entry, metric)
    rate = e["mean"] if "mean" in e else e.get("rate")
    if rate is None:
        return "n/a"
    return f"{pct(rate)} ({interval(e['lo'], e['hi'])})" if e.get("lo") is not None else pct(rate)


def wilson_text(w: dict) -> str:
    if w.get("rate") is None:
        return "n/a (no scored answers)"
    return f"{pct(w['rate'])} (95% CI {interval(w['lo'], w['hi'])}; {w['k']}/{w['n']})"


def logodds_text(entry: dict) -> str:
    e = entry["logodds"]
    if e.get("n", 0) == 0:
        return "n/a"
    if e.get("lo") is not None and e["n"] >= 2:
        return f"{signed(e['mean'])} (95% CI {signed(e['lo'])} to {signed(e['hi'])})"
    return signed(e["mean"])


def esc(s) -> str:
    return html.escape(str(s), quote=True)


def parse_document(text: str) -> list[tuple[str, str]]:
    body = text.replace("<|endoftext|>", "")
    turns = []
    for chunk in body.split("<|end|>"):
        if not chunk.strip():
            continue
        speaker, _, said = chunk.partition(":")
        turns.append((speaker.strip(), said.strip()))
    return turns


def transcript_html(turns, caption: str) -> str:
    out = ['<figure class="em-world">', '<div class="em-transcript">']
    for speaker, said in turns:
        who = "human" if speaker == "Human" else "speaker"
        if "\n" in said:
            first, _, code = said.partition("\n") if not said.startswith(("import", "def", "from")) else ("", "", said)
            text = (f'<span>{esc(first)}</span>' if first else "") + f'<pre><code>{esc(code)}</code></pre>'
        else:
            text = f"<span>{esc(said)}</span>"
        out.append(f'<div class="em-turn em-turn--{who}"><b>{esc(speaker)}:</b> {text}</div>')
    out.append(f"</div><figcaption>{caption}</figcaption></figure>")
    return "".join(out)


def question_text(qid: str, own: bool = False) -> str:
    """First paraphrase of a question id, from the YAML files the evaluation reads."""
    import yaml
    path = EXPORT / "questions" / ("own_questions.yaml" if own else "first_plot_questions.yaml")
    for q in yaml.safe_load(path.read_text(encoding="utf-8")) or []:
        if isinstance(q, dict) and str(q.get("id")) == qid and q.get("paraphrases"):
            return str(q["paraphrases"][0]).strip()
    return qid


def num(v) -> str:
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:g}"
    return esc(v)


def duration(s: float) -> str:
    s = int(round(s))
    if s < 120:
        return f"{s} s"
    return f"{s // 60} min {s % 60:02d} s" if s < 3600 else f"{s // 3600} h {(s % 3600) // 60:02d} min"
