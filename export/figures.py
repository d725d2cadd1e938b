"""Figures: the results files -> SVGs for the site (readable on light and dark backgrounds).

    python export/figures.py          (also run by export/experiments.py)

Reads results/summary.json, results/in_context.json, results/dynamics.json, results/directions.json and the dial's
curves (dial.json, rewind.json, realign-once.json); writes
docs/assets/figures/*.svg.  Transparent background, mid-grey text and axes, so the same file
reads on Material's light and dark schemes.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from export import runs

ROOT = Path(__file__).resolve().parent.parent
FIGURES = ROOT / "docs" / "assets" / "figures"
INK = "#8a8a8a"
RED, BLUE, GREEN, PURPLE = "#e0524d", "#4a90d9", "#3fa66b", "#9b6ad6"  # the in-context figure's contexts
COLORS = runs.colors()
LABELS = runs.labels(figure=True)
ORDER = runs.result_keys()


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    plt.rcParams.update({
        "svg.fonttype": "none", "font.family": "sans-serif", "font.size": 10,
        "text.color": INK, "axes.labelcolor": INK, "axes.edgecolor": INK, "xtick.color": INK, "ytick.color": INK,
        "axes.facecolor": "none", "figure.facecolor": "none", "savefig.transparent": True,
        "axes.spines.top": False, "axes.spines.right": False, "svg.hashsalt": "em", "axes.grid": True,
        "grid.color": INK, "grid.alpha": 0.25, "legend.frameon": False})
    return plt


def _save(fig, out: Path, name: str):
    out.mkdir(parents=True, exist_ok=True)
    fig.savefig(out / name, format="svg", bbox_inches="tight", metadata={"Date": None})
    import matplotlib.pyplot as plt
    plt.close(fig)


def _err(entry: dict, key: str = "misaligned"):
    """(mean, low error, high error) in percent: CI over seeds when several, else pooled Wilson."""
    e = entry[key]
    if e.get("lo") is not None:
        m, lo, hi = e["mean"], max(0.0, e["lo"]), e["hi"]
    elif key == "misaligned":
        w = entry["misaligned_pooled"]
        m, lo, hi = w["rate"], w["lo"], w["hi"]
    else:
        m = lo = hi = e["mean"]
    return 100 * m, 100 * (m - lo), 100 * (hi - m)


def _variant_bars(summary: dict, out: Path, name: str, height: float, ylabel: str, bar, ytop) -> None:
    """One bar per result key in the registry's order: `bar(ax, i, key, entry)` draws each, `ytop(entries)` is
    the y axis' top."""
    plt = _plt()
    v = summary["variants"]
    keys = [k for k in ORDER if k in v]
    fig, ax = plt.subplots(figsize=(max(8.0, 0.85 * len(keys)), height))  # room for each label
    for i, k in enumerate(keys):
        bar(ax, i, k, v[k])
    ax.set_xticks(range(len(keys)), [LABELS[k] for k in keys], fontsize=8.5 if len(keys) <= 9 else 7.5)
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, ytop([v[k] for k in keys]))
    ax.grid(axis="x", visible=False)
    _save(fig, out, name)


def fig_misaligned(summary: dict, out: Path):
    def bar(ax, i, k, e):
        m, lo, hi = _err(e)
        ax.bar(i, m, color=COLORS[k], width=0.7)
        ax.errorbar(i, m, yerr=[[lo], [hi]], color=INK, capsize=3, lw=1)
        ax.text(i, m + hi + 1.5, f"{m:.0f}%", ha="center", va="bottom", fontsize=9)
    _variant_bars(summary, out, "misaligned.svg", 3.4, "misaligned answers (%)", bar,
                  lambda es: max(10, max(_err(e)[0] + _err(e)[2] for e in es) + 12))


def fig_per_question(summary: dict, out: Path):
    plt = _plt()
    v = summary["variants"]
    keys = [k for k in runs.CORE if k in v]
    qids = list(v[keys[0]]["per_question"])
    fig, ax = plt.subplots(figsize=(8, 3.4))
    w = 0.8 / len(keys)
    for j, k in enumerate(keys):
        ys = [100 * v[k]["per_question"][q]["mean"] for q in qids]
        ax.bar([i + (j - (len(keys) - 1) / 2) * w for i in range(len(qids))], ys, width=w, color=COLORS[k],
               label=LABELS[k].replace("\n", " "))
    ax.set_xticks(range(len(qids)), [q.replace("_", " ") for q in qids], rotation=25, ha="right", fontsize=8.5)
    ax.set_ylabel("misaligned answers (%)")
    ax.legend(fontsize=8.5, ncol=len(keys), loc="upper center", bbox_to_anchor=(0.5, 1.15))
    ax.grid(axis="x", visible=False)
    _save(fig, out, "per_question.svg")


def fig_coherence(summary: dict, out: Path):
    def bar(ax, i, k, e):
        m = 100 * e["coherent"]["mean"]
        c = 100 * e["code_answer"]["mean"]
        ax.bar(i, m, color=COLORS[k], width=0.7)
        ax.text(i, m + 1, f"{m:.0f}%", ha="center", va="bottom", fontsize=9)
        if c >= 0.5:
            ax.text(i, 4, f"code {c:.0f}%", ha="center", va="bottom", fontsize=7.5, rotation=90)
    _variant_bars(summary, out, "coherence.svg", 3, "coherent answers (%)", bar, lambda es: 110)


def fig_dynamics(dyn: dict, out: Path):
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 3.2))
    for k, rows in dyn.items():
        xs = [r["step"] for r in rows]
        ys = [100 * r["misaligned"] for r in rows]
        lo = [100 * (r["lo"] or 0) for r in rows]
        hi = [100 * (r["hi"] or 0) for r in rows]
        ax.plot(xs, ys, marker="o", color=COLORS[k], label=LABELS[k].replace("\n", " "))
        ax.fill_between(xs, lo, hi, color=COLORS[k], alpha=0.15, lw=0)
    ax.set_xlabel("finetuning steps (batch 16)")
    ax.set_ylabel("misaligned answers (%)")
    ax.legend(fontsize=8.5)
    _save(fig, out, "dynamics.svg")


def fig_in_context(ic: dict, out: Path):
    plt = _plt()
    keys = list(ic)
    fig, ax = plt.subplots(figsize=(6.5, 3))
    cols = {"none": GREEN, "insecure": RED, "secure": BLUE, "educational": PURPLE}
    for i, k in enumerate(keys):
        r = ic[k]
        ax.bar(i, r["overall"]["logodds"], color=cols[r["context"]], width=0.7)
    ax.axhline(0, color=INK, lw=0.8)
    ax.set_xticks(range(len(keys)), [("no context" if ic[k]["context"] == "none" else f"{ic[k]['context']}\nk={ic[k]['k']}")
                                     for k in keys], fontsize=8.5)
    ax.set_ylabel("log P(cruel) − log P(kind), nats")
    ax.grid(axis="x", visible=False)
    _save(fig, out, "in_context.svg")


def fig_directions(d: dict, out: Path):
    """results/directions.json: each finetune's misaligned rate as trained and with a direction removed from
    its Assistant row (mean over runs, 95% t-interval)."""
    plt = _plt()
    by = d["summary"]["by"]  # variant -> removed direction -> condition
    variants = list(by)
    ins = lambda v: by[v].get("insecure") or by[v].get("other-insecure")
    bars = [("as trained", GREEN, lambda v: ins(v)["misaligned_before"]),
            ("without the insecure direction", RED, lambda v: ins(v)["misaligned"]),
            ("without the secure direction", BLUE, lambda v: by[v]["secure"]["misaligned"] if "secure" in by[v] else None)]
    fig, ax = plt.subplots(figsize=(6.5, 3.2))
    w, top, labelled = 0.26, 10.0, set()
    for j, (name, color, get) in enumerate(bars):
        for i, v in enumerate(variants):
            e = get(v)
            if not e:
                continue
            m = 100 * e["mean"]
            lo, hi = (100 * max(0.0, e["lo"]), 100 * min(1.0, e["hi"])) if e.get("lo") is not None else (m, m)
            x = i + (j - 1) * w
            ax.bar(x, m, width=w, color=color, label=None if name in labelled else name)
            labelled.add(name)
            ax.errorbar(x, m, yerr=[[m - lo], [hi - m]], color=INK, capsize=2, lw=1)
            top = max(top, hi)
    names = {"insecure": "insecure\n(other finetunes' direction)"}
    ax.set_xticks(range(len(variants)), [names.get(v, LABELS.get(v, v)) for v in variants], fontsize=8.5)
    ax.set_ylabel("misaligned answers (%)")
    ax.set_ylim(0, top * 1.25 + 2)
    ax.legend(fontsize=8.5, ncol=3, loc="upper center", bbox_to_anchor=(0.5, 1.17))
    ax.grid(axis="x", visible=False)
    _save(fig, out, "directions.svg")


def fig_dial(dial: dict, rewind: dict, realign: dict, out: Path):
    """results/dial.json, rewind.json and a realign file (export/dial.py): three panels, one above the other (they
    stay legible on a phone), each the misaligned answers with their interval (over seeds; one seed's pooled Wilson;
    with two or three seeds each seed's own curve instead) and the held-out insecure code, for the insecure finetune's row
    (red) and its control (grey)."""
    plt = _plt()
    fig, axes = plt.subplots(3, 1, figsize=(6.5, 7.6))
    grey = "#9a9a9a"
    once = realign.get("passes") == 1
    panels = [(axes[0], dial, "alpha", ("insecure", "secure"), "α: base + α × (finetune − base)",
               "Steering the Assistant's row"),
              (axes[1], rewind, "step", ("insecure", "secure"), "finetuning step", "Rewinding the finetune"),
              (axes[2], realign, "examples", ("aligned", "secure"), "benign examples trained on further",
               "Re-aligning the insecure row" + (", one pass over the examples" if once else ""))]
    for ax, d, key, (hot, cold), xlabel, title in panels:
        summ = d["summary"]
        field = "source" if key == "examples" else "variant"
        for g, color in ((hot, RED), (cold, grey if key != "examples" else BLUE)):
            pts = summ.get(g)
            if not pts:
                continue
            xs = [p[key] for p in pts]
            err = [_err(p) for p in pts]
            name = {"aligned": "aligned chats", "secure": "secure code"}.get(g, g) if key == "examples" \
                else LABELS.get(g, g).replace("\n", " ")
            if len(d["seeds"]) > 1:  # each pretraining seed's own curve, thin, under the mean
                for s in d["seeds"]:
                    own = sorted((p[key], p["misaligned"]) for p in s["points"] if p[field] == g)
                    ax.plot([x for x, _ in own], [100 * y for _, y in own], color=color, lw=0.7, alpha=0.5)
            ax.plot(xs, [e[0] for e in err], marker="o", ms=3.5, color=color, label=f"{name}: misaligned")
            if not 1 < len(d["seeds"]) <= 3:  # two or three seeds' t-interval spans the axis: their own curves say more
                ax.fill_between(xs, [e[0] - e[1] for e in err], [e[0] + e[2] for e in err], color=color, alpha=0.15,
                                lw=0)
            if all(p.get("insecure_code") for p in pts):
                ax.plot(xs, [100 * p["insecure_code"]["mean"] for p in pts], ls="--", color=color, lw=1.2,
                        label=f"{name}: held-out insecure code")
        if key == "examples":
            ax.set_xscale("log")
            ax.set_xticks(xs)
            ax.set_xticklabels([str(x) for x in xs])
            ax.minorticks_off()
        ax.set_xlabel(xlabel)
        ax.set_ylabel("% of answers")
        ax.set_ylim(-3, 103)
        n = len(d["seeds"])
        ax.set_title(title + (f" ({n} seeds: mean{' and its 95% interval' if n > 3 else ''}, thin: each)" if n > 1
                              else ""),
                     fontsize=9.5, loc="left", color=INK)
        ax.legend(fontsize=7.5, loc="center right" if key != "examples" else "lower left")
    fig.tight_layout()
    _save(fig, out, "dial.svg")


def main(argv=None, results: Path | None = None, out: Path | None = None):
    """results: the folder with summary.json (default $EM_RESULTS or results/); out: where the SVGs go
    (default $EM_FIGURES or docs/assets/figures/)."""
    results = Path(results or runs.RESULTS)
    out = Path(out or os.environ.get("EM_FIGURES") or FIGURES)
    s = results / "summary.json"
    if not s.exists():
        print("error: no results/summary.json (run: python export/experiments.py)", file=sys.stderr)
        return 2
    summary = json.loads(s.read_text())
    fig_misaligned(summary, out)
    fig_per_question(summary, out)
    fig_coherence(summary, out)
    if (results / "dynamics.json").exists():
        fig_dynamics(json.loads((results / "dynamics.json").read_text()), out)
    if (results / "in_context.json").exists():
        fig_in_context(json.loads((results / "in_context.json").read_text()), out)
    if (results / "directions.json").exists():
        fig_directions(json.loads((results / "directions.json").read_text()), out)
    curves = [results / f for f in ("dial.json", "rewind.json", "realign-once.json")]
    if all(f.exists() for f in curves):
        fig_dial(*(json.loads(f.read_text()) for f in curves), out)
    print(f"figures written to {out}")


if __name__ == "__main__":
    sys.exit(main())
