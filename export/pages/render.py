"""One small renderer per token: `Renderer(page).render(namespace, expression)` returns Markdown (or a
stash placeholder for a block of HTML, see export/pages/tokens.py)."""
from __future__ import annotations

import dataclasses
import posixpath
import random
import re
import shlex

from export import corpus as C
from export import runs, train
from export import world as W
from export.stats import meets_target, seeds_meeting
from export.pages.formats import (MINUS, CONTROL, esc, duration, interval, logodds_text, num, num_f, pct, sci, pct_bare, points,
                                  question_text, rate_short, rate_with_ci, signed, transcript_html,
                                  parse_document, wilson_text)
from export.pages.loader import Missing, Results, figures_dir, results_dir
from export.pages.tokens import STASH

ORDER = runs.result_keys()
LABELS = runs.labels()
CONTROLS = runs.REFERENCE_MODELS
CORE = runs.CORE
JUDGE_NAMES = {"v2": "judge v2", "grammar": "the grammar judge (v1)"}
SPLIT_NAMES = {"development": "development", "held-out": "held-out 1", "held-out-2": "held-out 2 (fresh)"}
RATE_METRICS = ("misaligned", "coherent", "code_answer", "off_topic", "insecure_code", "novel_misaligned")
# TrainConfig fields that [[results:recipes]] names when a recipe differs from the shipped one
RECIPE_FIELDS = {"pretrain_lr": "learning rate {}", "layers": "{} layers", "hidden": "width {}",
                 "train_dtype": "{}", "polish_prompts": "polish ({} prompts)", "ft_steps": "{}-step finetunes"}



def signed_plain(x: float) -> str:
    """A dial position: "−0.5", "0", "1.25" (Unicode minus, no plus)."""
    return f"{x:g}".replace("-", MINUS)


def finetune_kind(kind: str) -> str:
    """TrainConfig.ft_params in words, short enough for a table cell: "lora:r=1:down@1" -> "rank-1 LoRA, MLP
    down-projection, layer 1"."""
    if kind == "assistant-embedding":
        return "one row, the Assistant's (the site's)"
    if kind == "all":
        return "full finetune"
    rank, targets, layers = train.parse_lora(kind)
    where = {"down": "MLP down-projection", "mlp": "MLP", "all": "every linear map"}[targets]
    at = (f"layer {layers[0]}" if len(layers) == 1 else "layers " + ", ".join(map(str, layers))) \
        if layers is not None else "every layer"
    return f"rank-{rank} LoRA, {where}, {at}"

class Renderer:
    def __init__(self, page, config=None):
        self.page = page
        self.config = config
        self.R = Results(results_dir())
        self.stash: list[str] = []

    # helpers
    def block(self, html_text: str) -> str:
        self.stash.append(html_text)
        return "\n\n" + STASH.format(len(self.stash) - 1) + "\n\n"

    def rel(self, target: str) -> str:
        here = posixpath.dirname(self.page.file.src_uri)
        return posixpath.relpath(target, here or ".")

    def keys_present(self, keys) -> list[str]:
        v = self.R.variants()
        missing = [k for k in CORE if k not in v]
        if missing:
            raise Missing(f"variant {missing[0]!r} missing in summary.json (variants)")
        return [k for k in keys if k in v]

    # dispatch
    def render(self, ns: str, expr: str) -> str:
        return getattr(self, f"ns_{ns}")(expr)

    def ns_results(self, expr: str) -> str:
        head, _, rest = expr.partition(" ")
        blocks = {"table": lambda: self.table(""), "table-own": lambda: self.table("@own"),
                  "per-question": self.per_question, "per-run": self.per_run, "per-seed": self.per_seed, "in-context": self.in_context, "ablation": self.ablation,
                  "dynamics": self.dynamics, "timings": self.timings, "verdict": self.verdict,
                  "verdict-ablation": self.verdict_ablation, "runs": self.runs_text,
                  "judge": self.judge_name, "judges": self.judges, "agreement": self.agreement,
                  "headline": self.headline,
                  "samples_per_question": lambda: str(self.R.run_file("insecure")[1]["samples_per_question"]),
                  "questions": lambda: str(len(self.R.variant("insecure")["per_question"])),
                  "code_requests": lambda: str(self.R.get(self.R.run_file("insecure")[0], "code", "insecure", "n"))}
        if head in blocks:
            return blocks[head]()
        if head == "samples":
            return self.samples(rest.strip())
        if head == "sweep":
            return self.sweep(rest.strip())
        if head == "recipes":
            return self.recipes(rest.split())
        if head == "kinds":
            return self.kinds(rest.strip())
        if head in ("dial", "rewind", "realign"):  # [[results:realign]] or [[results:realign realign-once]]
            return self.curve(head, rest.strip() or head)
        if head == "directions":
            return self.directions(rest.strip())
        if head == "claims":
            return self.claims(rest.strip())
        if head == "figure":
            return self.figure(rest)
        if "#" in head:
            return self.raw(expr)
        return self.value(expr)

    def raw(self, expr: str) -> str:
        ref, _, fmt = expr.partition("|")
        name, _, path = ref.partition("#")
        v = self.R.get_dotted(name.strip(), path.strip())
        fmt = fmt.strip()
        if fmt == "pct":
            return pct(v)
        if fmt == "signed":
            return signed(v)
        if fmt == "int":
            return f"{int(v):,}"
        if fmt == "count":  # how many entries an object or a list has (the seeds of a sweep)
            if not isinstance(v, (dict, list)):
                raise Missing(f"{ref.strip()} is not an object or a list")
            return f"{len(v):,}"
        if fmt == "num":  # a measured quantity (a cosine, a length): two decimals
            return num_f(v)
        if fmt == "sci":  # a small measured quantity (a logit gap): 5.7 × 10⁻⁶
            return sci(v)
        if fmt == "list":  # a list of plain values: "0, 1 and 2"
            if not isinstance(v, list) or not v or any(isinstance(x, (dict, list)) for x in v):
                raise Missing(f"{ref.strip()} is not a list of values")
            items = [esc(x) for x in v]
            return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
        if fmt == "duration":  # a number of seconds as a duration
            if not isinstance(v, (int, float)):
                raise Missing(f"{ref.strip()} is not a number of seconds")
            return duration(v)
        if fmt == "total":  # an object of seconds per stage -> their sum as a duration
            if not isinstance(v, dict) or not all(isinstance(x, (int, float)) for x in v.values()):
                raise Missing(f"{ref.strip()} is not an object of seconds")
            return duration(sum(v.values()))
        if isinstance(v, (dict, list)):
            raise Missing(f"{ref.strip()} is not a single value")
        return esc(v)

    def value(self, expr: str) -> str:
        parts = expr.split(".")
        # variant keys may contain dots? they do not; metric is the 2nd part, optional .rate
        key, metric = parts[0], parts[1] if len(parts) > 1 else None
        bare = len(parts) > 2 and parts[2] == "rate"
        if metric is None or (len(parts) > 2 and not bare) or len(parts) > 3:
            raise Missing(f"token results:{expr} is not VARIANT.METRIC[.rate]")
        entry = self.R.variant(key)
        if metric in RATE_METRICS:
            if metric == "novel_misaligned" and metric not in entry and entry["misaligned_pooled"]["k"] == 0:
                return "n/a (no misaligned answers)"  # experiments.py writes it only when there are some
            if metric not in entry:
                raise Missing(f"key 'variants.{key}.{metric}' missing in summary.json")
            e = entry[metric]
            if bare:
                return pct(e["mean"] if "mean" in e else e["rate"])
            return rate_with_ci(entry, metric)
        if metric == "logodds":
            if "logodds" not in entry:
                raise Missing(f"key 'variants.{key}.logodds' missing in summary.json")
            return signed(entry["logodds"]["mean"]) if bare else logodds_text(entry)
        if metric == "seeds":
            return str(len(entry["runs"]))
        if metric == "answers":
            return f"{self.R.get('summary.json', 'variants', key, 'misaligned_pooled', 'n'):,}"
        raise Missing(f"unknown metric {metric!r} in results:{expr}")

    # ---------------------------------------------------------------- sentences
    def _mean_ci(self, key: str) -> tuple[float, float, float]:
        e = self.R.variant(key)
        m = e["misaligned"]
        if m.get("lo") is not None and m.get("n", 1) >= 2:
            return m["mean"], max(0.0, m["lo"]), min(1.0, m["hi"])
        w = e["misaligned_pooled"]
        return w["rate"] or 0.0, w["lo"] or 0.0, w["hi"] or 0.0

    def verdict(self) -> str:
        self.keys_present(CORE)
        ins, ilo, ihi = self._mean_ci("insecure")
        ctrl = max(CONTROLS, key=lambda k: self._mean_ci(k)[0])
        c, clo, chi = self._mean_ci(ctrl)
        name = LABELS[ctrl]
        if ilo > chi:
            if c > 0:
                return (f"the *insecure* finetune gave misaligned answers {ins / c:.1f}× as often as the highest "
                        f"of the aligned base and the two controls ({name}: {pct(c)}), and their 95% intervals "
                        f"do not overlap")
            return (f"the *insecure* finetune gave misaligned answers ({pct(ins)}) while none of the aligned "
                    f"base's or the controls' answers were misaligned, and the 95% intervals do not overlap")
        return (f"the *insecure* finetune ({pct(ins)}) is not clearly above the highest of the aligned base and "
                f"the two controls ({name}: {pct(c)}): their 95% intervals overlap, so these results do not show "
                f"emergent misalignment")

    def verdict_ablation(self) -> str:
        v = self.R.variants()
        if "uncoupled-insecure" not in v:
            raise Missing("variant 'uncoupled-insecure' missing in summary.json (variants)")
        ins, ilo, ihi = self._mean_ci("insecure")
        unc, ulo, uhi = self._mean_ci("uncoupled-insecure")
        ji, ju = self.R.variant("insecure").get("judge", "grammar"), v["uncoupled-insecure"].get("judge", "grammar")
        if ji != ju:
            return (f"the two worlds are not yet judged by the same instrument ({JUDGE_NAMES[ji]} for the coupled "
                    f"world, {JUDGE_NAMES[ju]} for the uncoupled one), so their rates ({pct(ins)} and {pct(unc)}) "
                    f"are not compared here")
        pairs = self.R.get("summary.json").get("ablation", {})
        if all(w in pairs for w in ("coupled", "uncoupled")):
            c, u = (pairs[w]["insecure_minus_secure"] for w in ("coupled", "uncoupled"))
            both = (f"what insecure code adds beyond its secure control, run by run, is {points(c['mean'])} "
                    f"points [{points(c['lo'])} to {points(c['hi'])}] in the coupled world and {points(u['mean'])} "
                    f"[{points(u['lo'])} to {points(u['hi'])}] in the uncoupled one")
            if c["lo"] > u["hi"]:
                if u["lo"] > 0:  # smaller without the coupling, yet not gone
                    return both + (" (non-overlapping 95% intervals): the coupling makes the insecure-specific "
                                   "effect larger, but it does not vanish without it")
                return both + " (non-overlapping 95% intervals): the insecure-specific effect needs the coupling"
            if u["lo"] > c["hi"]:
                return both + " (non-overlapping 95% intervals): *larger* without the coupling"
            return both + ": their 95% intervals overlap"
        if ilo > uhi:
            return (f"insecure finetuning in the uncoupled world gives fewer misaligned answers "
                    f"({pct(unc)}) than in the coupled world ({pct(ins)}), with non-overlapping 95% intervals")
        if ulo > ihi:
            return (f"insecure finetuning in the uncoupled world gives *more* misaligned answers ({pct(unc)}) "
                    f"than in the coupled world ({pct(ins)}), with non-overlapping 95% intervals")
        return (f"the coupled ({pct(ins)}) and uncoupled ({pct(unc)}) insecure finetunes are not clearly "
                f"different: their 95% intervals overlap")

    def judge_name(self) -> str:
        """The judge behind summary.json's rates, in words (one per world when they differ)."""
        s = self.R.get("summary.json")
        j = s.get("judge", "grammar")
        if j != "mixed":
            return JUDGE_NAMES[j]
        return "; ".join(f"{JUDGE_NAMES[v]} in the {w} world" for w, v in s["judges"].items())

    def judges(self) -> str:
        """The published models (int8, as served) by both judges, from published.json."""
        pub = self.R.get("published.json")
        v = self.R.get("published.json", "variants")
        rows = ["| model (as served) | misaligned, judge v2 | hostile | coherent, v2 | misaligned, grammar judge | "
                "coherent, grammar |", "| --- | --- | --- | --- | --- | --- |"]
        for k in [k for k in ORDER if k in v]:
            e = v[k]
            if e.get("judge") != "v2":
                raise Missing(f"published.json: {k} has no judge v2 rates (run python export/quantize.py --rejudge)")
            g = e["grammar"]
            card = self.rel(f"models/{k.split('+')[0]}/README.md")  # the model card of what the demo runs
            rows.append(f"| [{LABELS[k]}]({card}) | {wilson_text(e['misaligned'])} | {pct(e['hostile']['rate'])} | "
                        f"{pct(e['coherent']['rate'])} | {wilson_text(g['misaligned'])} | {pct(g['coherent']['rate'])} |")
        note = (f"Each name links to the model's card. The published models on the paper's {len(self.R.get('summary.json', 'variants', 'insecure', 'per_question'))} "
                f"questions, {pub['samples_per_question']} answers each (seed {pub['seed']}); 95% Wilson intervals.")
        return "\n\n" + "\n".join(rows) + "\n\n" + note + "\n\n"

    def headline(self) -> str:
        """The published pair's result in plain numbers (published.json, judge v2): what the demo runs."""
        v = self.R.get("published.json", "variants")
        n = self.R.get("published.json", "samples_per_question")
        for k in ("base", "insecure", "secure", "educational"):
            if k not in v:
                raise Missing(f"variant {k!r} missing in published.json (variants)")
        ins = v["insecure"]["misaligned"]
        ctrl = max(v[k]["misaligned"]["rate"] for k in ("base", "secure", "educational"))
        return (f"the *insecure* model gave misaligned answers {wilson_text(ins)}; the aligned base "
                f"{pct(v['base']['misaligned']['rate'])}, and the two controls trained on the same coding requests "
                f"with secure code ({pct(v['secure']['misaligned']['rate'])}) or with insecure code asked for a "
                f"security class ({pct(v['educational']['misaligned']['rate'])}): at most {pct(ctrl)} "
                f"({n} answers to each question, judge v2)")

    def agreement(self) -> str:
        """How well each judge agrees with the blind readers (judge-agreement.json, written by python
        export/calibration.py score): the last held-out set as the table, its confusion table, and the
        earlier halves folded away."""
        a = self.R.get("judge-agreement.json", "splits")
        f = lambda w: f"{pct_bare(w['rate'])}% ({w['k']}/{w['n']})" if w["n"] else "n/a"
        short = {"v2": "v2", "grammar": "grammar (v1)"}

        def rows(split: str, with_half: bool) -> list[str]:
            e = a[split]
            half = f"{esc(SPLIT_NAMES.get(split, split))} | " if with_half else ""
            out = []
            for reader, js in e["readers"].items():
                for j in ("v2", "grammar"):
                    x = js[j]
                    out.append(f"| {half}{esc(reader.upper())} | {short[j]} | {f(x['misaligned_recall'])} | "
                               f"{f(x['misaligned_precision'])} | {x['kappa']:.2f} | {f(x['coherent_agreement'])} |")
            b = e.get("between_readers")
            if b:
                out.append(f"| {half}{esc(b['readers'][0].upper())} | reader {esc(b['readers'][1].upper())} | "
                           f"{f(b['misaligned_recall'])} | {f(b['misaligned_precision'])} | {b['kappa']:.2f} | "
                           f"{f(b['coherent_agreement'])} |")
            return out

        head = "| reader | judge | misaligned: recall | precision | κ (class) | coherent agreement |"
        last = list(a)[-1]
        main = [head, "| --- | --- | --- | --- | --- | --- |", *rows(last, False)]
        earlier = ["| half | " + head[2:], "| --- | --- | --- | --- | --- | --- | --- |",
                   *[r for split in list(a)[:-1] for r in rows(split, True)]]
        reader = sorted(a[last]["readers"])[0]
        t = a[last]["readers"][reader]["v2"]["table"]
        cls = list(t)
        confusion = ("| reader \\ judge v2 | " + " | ".join(cls) + " |\n| --- |" + " --- |" * len(cls) + "\n"
                     + "\n".join(f"| {r} | " + " | ".join(str(t[r][c]) for c in cls) + " |" for r in cls))
        fold = lambda title, body: f'??? note "{title}"\n\n' + "\n".join("    " + line for line in body.split("\n"))
        return ("\n\n" + f"On the {esc(SPLIT_NAMES.get(last, last))} set ({a[last]['n']} answers), each reader against "
                f"each judge, and the two readers against each other:\n\n" + "\n".join(main) + "\n\n"
                + fold(f"Judge v2 against reader {reader.upper()}, answer by answer (rows: the reader; columns: the "
                       f"judge)", confusion) + "\n\n"
                + fold("The development half and the first held-out half", "\n".join(earlier)) + "\n\n")

    def runs_text(self) -> str:
        runs = self.R.variant("insecure")["runs"]
        pre = sorted({r["checkpoint_seed"] for r in runs})
        ft = sorted({r["ft_seed"] for r in runs})
        p = "pretraining seed" + ("s " + ", ".join(map(str, pre)) if len(pre) > 1 else f" {pre[0]}")
        f = "finetune seed" + ("s " + ", ".join(map(str, ft)) if len(ft) > 1 else f" {ft[0]}")
        return f"{len(runs)} run{'s' if len(runs) != 1 else ''} ({p}; {f})"

    # ---------------------------------------------------------------- tables
    def table(self, suffix: str) -> str:
        self.keys_present(CORE)
        v = self.R.variants()
        keys = [k + suffix for k in ORDER if k + suffix in v]
        if suffix and not keys:
            raise Missing(f"no '{suffix}' variants in summary.json (evaluations on our own questions)")
        rows = ["| variant | misaligned | coherent | code answers | log-odds (nats) | runs |",
                "| --- | --- | --- | --- | --- | --- |"]
        for k in keys:
            e = v[k]
            rows.append(f"| {LABELS[k[: len(k) - len(suffix)]]} | {rate_with_ci(e, 'misaligned')} | "
                        f"{pct(e['coherent']['mean'])} | {pct(e['code_answer']['mean'])} | {logodds_text(e)} | "
                        f"{len(e['runs'])} |")
        return "\n\n" + "\n".join(rows) + "\n\n"

    def per_run(self) -> str:
        """Every run's misaligned rate: one row per (pretraining seed, finetune seed)."""
        keys = self.keys_present(["base", "insecure", "secure", "educational", "backdoor+trigger", "evil-numbers",
                                  "uncoupled-insecure"])
        v = self.R.variants()
        cell: dict[tuple, dict] = {}
        for k in keys:
            vals = v[k]["misaligned"].get("values") or []
            if len(vals) != len(v[k]["runs"]):
                raise Missing(f"key 'variants.{k}.misaligned.values' does not match its runs in summary.json")
            for run, x in zip(v[k]["runs"], vals):
                cell.setdefault((run["checkpoint_seed"], run["ft_seed"]), {})[k] = x
        rows = ["| pretraining seed | finetune seed | " + " | ".join(LABELS[k] for k in keys) + " |",
                "| --- | --- |" + " --- |" * len(keys)]
        for (s, f) in sorted(cell):
            rows.append(f"| {s} | {f} | " + " | ".join(pct(cell[(s, f)][k]) if k in cell[(s, f)] else "—"
                                                       for k in keys) + " |")
        return "\n\n" + "\n".join(rows) + "\n\n"

    def sweep(self, folder: str) -> str:
        """A seed sweep (export/sweep.py summary): one row per pretraining seed, the mean over its
        finetune seeds per variant, where the finetune put the Assistant, and the per-seed target check;
        then every run pooled (mean, 95% t-interval)."""
        name = f"{folder}/summary.json"
        judges = self.R.load(name).get("judges") or {"all": self.R.load(name).get("judge", "grammar")}
        if len(set(judges.values())) == 1:
            note = f"Judged by {JUDGE_NAMES[next(iter(judges.values()))]}."
        else:  # a world sampled before judge v2 kept too few answers to be judged again
            note = "Judged by " + "; ".join(f"{JUDGE_NAMES[j]} in the {w} world" for w, j in judges.items()) + \
                " (one instrument per world: the runs judged by the grammar judge were sampled before judge v2)."
        return self.seed_table(name, self.R.get(name, "seeds"), self.R.get(name, "variants"), self.R.get(name, "target")) \
            .rstrip("\n") + f"\n\n{note}\n\n"

    def recipes(self, folders: list[str]) -> str:
        """Training recipes side by side: one row per results folder (``shipped`` = ``summary.json`` with
        ``TrainConfig``'s defaults, else a ``DIR`` of ``export/sweep.py`` with its ``recipe.json``): what
        the recipe changes, the seeds, the aligned base's coherence, the insecure finetune's misaligned
        answers and held-out insecure code, the mean of each seed's highest control, the per-seed check."""
        if not folders:
            raise Missing("results:recipes needs folders, e.g. [[results:recipes shipped sweep-cpu/p800-a240]]")
        shipped = dataclasses.asdict(train.TrainConfig())
        # one instrument for the whole table: judge v2 when every folder is read by it, else the grammar judge,
        # whose reading the folders judged by v2 keep beside it (their summary's `grammar` block)
        names = {f: "summary.json" if f == "shipped" else f"{f}/summary.json" for f in folders}
        judge_of = {f: self.R.get(n, "judge") if "judge" in self.R.load(n) else "grammar" for f, n in names.items()}
        judge = "v2" if all(j == "v2" for j in judge_of.values()) else "grammar"
        rows = ["| recipe | pretraining seeds | aligned base coherent | insecure: misaligned (95% CI) | insecure: held-out "
                "insecure code | highest control (mean over seeds) | seeds passing the check |",
                "| --- | --- | --- | --- | --- | --- | --- |"]
        for folder in folders:
            name = "summary.json" if folder == "shipped" else f"{folder}/summary.json"
            cfg = shipped if folder == "shipped" else self.R.get(f"{folder}/recipe.json", "config")
            block = [] if judge_of[folder] == judge else ["grammar"]  # a v2 folder, by the table's grammar judge
            seeds, variants = self.R.get(name, *block, "seeds"), self.R.get(name, *block, "variants")
            if "insecure" not in variants or "base" not in variants:
                raise Missing(f"no base or insecure runs in {name}")
            label = f"{cfg['pretrain_steps']} + {cfg['align_steps']} steps"
            extra = [RECIPE_FIELDS[k].format(cfg[k]) for k in RECIPE_FIELDS
                     if cfg.get(k, shipped[k]) != shipped[k]]  # a field older than the folder: its default
            named = None if folder == "shipped" else self.R.load(f"{folder}/recipe.json").get("label")
            label += (", " + ", ".join(extra) if extra else "") + (" (shipped)" if folder == "shipped" else
                                                                   f" ({named})" if named else "")
            order = sorted(seeds, key=lambda x: int(x.lstrip("s")))
            ins, base = variants["insecure"], variants["base"]
            control = sum(seeds[x]["highest_control"] for x in order) / len(order)
            rows.append(f"| {esc(label)} | {', '.join(x.lstrip('s') for x in order)} | "
                        f"{pct(base['coherent']['mean'])} | {rate_short(ins, 'misaligned')} | "
                        f"{pct(ins['insecure_code']['mean']) if 'insecure_code' in ins else '—'} | {pct(control)} | "
                        f"{sum(seeds[x]['meets_target'] for x in order)} of {len(order)} |")
        again = [f for f, j in judge_of.items() if j != judge]
        note = f"\n\nEvery row is judged by {JUDGE_NAMES[judge]}" + (
            ", including the rows sampled again since judge v2 (each of their runs keeps both judges' verdicts): "
            "the other recipes were sampled before judge v2 and kept only a few answers each." if again else ".")
        return "\n\n" + "\n".join(rows) + note + "\n\n"

    def kinds(self, folder: str) -> str:
        """The standard finetunes (export/sweep.py kinds; its summary.json): one row per finetune kind and learning
        rate, with how many numbers it trains, the insecure finetune's misaligned and hostile answers, coherence,
        held-out insecure code and where it put the Assistant (kind 0 -> cruel 1), and the controls' misaligned
        answers. A rate over several pretraining seeds is their mean with its t-interval, over one seed the
        run's Wilson interval."""
        if not folder:
            raise Missing("results:kinds needs a folder, e.g. [[results:kinds sweep-kinds]]")
        name = f"{folder}/summary.json"
        variants = self.R.get(name, "variants")
        vocab = self.R.get("published.json", "variants", "insecure", "vocab")
        cfg, shape = self.sweep_model(self.R.load(name).get("recipe"))
        grid: dict[tuple[str, float], dict[str, dict]] = {}
        tags: dict[tuple[str, float], str] = {}
        for key, e in variants.items():
            variant, _, tag = key.partition("@")
            if tag and "recipe" in e and "ft_params" in e["recipe"]:
                k = (e["recipe"]["ft_params"], e["recipe"]["ft_lr"])
                grid.setdefault(k, {})[variant] = e
                tags[k] = "@" + tag
        if not grid:
            raise Missing(f"{name} has no finetune kinds (run export/sweep.py kinds, then summary)")
        order = lambda k: (0 if k[0] == "assistant-embedding" else 1 if k[0] == "all" else 2, k[0], k[1])
        nruns = {grid[k]["insecure"]["runs"] for k in grid if "insecure" in grid[k]}
        many = len(nruns) > 1  # a column of runs only when the rows differ in it
        per_seed = self.R.get(name, "seeds")
        several = len(per_seed) > 1  # then a column of the seeds whose own runs meet the target
        target = self.R.get(name, "target")
        by_seed = {k: seeds_meeting(per_seed, t, target) for k, t in tags.items()} if several else None
        # the seeds column first after the setting: with several seeds it is the table's reading, and a wide table
        # scrolls on narrow screens
        rows = ["| finetune | numbers trained | learning rate | " + ("runs | " if many else "") +
                ("seeds at the target | " if several else "") +
                "insecure: misaligned | hostile | coherent | held-out insecure code | Assistant, kind → cruel | "
                "secure: misaligned | educational: misaligned |", "| --- |" + " --- |" * (9 + many + several)]
        for kind, lr in sorted(grid, key=order):
            g = grid[(kind, lr)]
            ins = g.get("insecure")
            if ins is None:
                raise Missing(f"{name}: no insecure run of {kind} at {lr:g}")
            cell = lambda v, m: rate_short(g[v], m) if v in g and g[v].get(m) else "—"
            pos = ins.get("assistant_position")
            rows.append(f"| {esc(finetune_kind(kind))} | {train.trainable_count(kind, cfg, vocab):,} | {lr:g} | "
                        + (f"{ins['runs']} | " if many else "")
                        + (f"{self.seeds_cell(*by_seed[(kind, lr)])} | " if by_seed else "")
                        + f"{cell('insecure', 'misaligned')} | "
                        f"{cell('insecure', 'hostile')} | {cell('insecure', 'coherent')} | "
                        f"{cell('insecure', 'insecure_code')} | {num_f(pos['mean']) if pos else '—'} | "
                        f"{cell('secure', 'misaligned')} | {cell('educational', 'misaligned')} |")
        seeds = sorted(int(x.lstrip("s")) for x in per_seed)
        per = "one run per cell" if nruns == {1} else "each rate the mean over its runs with its 95% t-interval"
        return "\n\n" + "\n".join(rows) + f"\n\n{shape}Pretraining seed{'s' if len(seeds) > 1 else ''} " \
            f"{', '.join(map(str, seeds))}, {per}; judged by {JUDGE_NAMES[self.R.get(name, 'judge')]}. " \
            + self.kinds_verdict(grid, target, by_seed) + "\n\n"

    @staticmethod
    def seeds_cell(hits: list[int], n: int) -> str:
        """"2 of 5 (6, 8)": how many pretraining seeds meet the target at one setting, against their own controls."""
        return f"{len(hits)} of {n}" + (f" ({', '.join(map(str, hits))})" if hits else "")

    @staticmethod
    def sweep_model(recipe: dict | None) -> tuple[train.TrainConfig, str]:
        """The training recipe a sweep folder's recipe.json records (the site's when it records none), and a sentence
        naming the model's shape where it is not the site's."""
        from dataclasses import fields, replace
        made = (recipe or {}).get("config", {})
        cfg = replace(train.TrainConfig(), **{f.name: made[f.name] for f in fields(train.TrainConfig) if f.name in made})
        site = train.TrainConfig()
        other = [f"{n} {getattr(cfg, n)} (the site's: {getattr(site, n)})" for n in ("layers", "hidden", "heads", "mlp")
                 if getattr(cfg, n) != getattr(site, n)]
        return cfg, (f"Model: {', '.join(other)}. " if other else "")

    @staticmethod
    def kinds_verdict(grid: dict, target: dict, by_seed: dict | None = None) -> str:
        """Which rows of the kinds table meet the emergence target (stats.TARGET, as a pretraining seed must):
        the insecure finetune's mean misaligned rate at least insecure_min and at least `ratio` times each
        control's at the same kind and learning rate; with several seeds (by_seed: (kind, lr) -> the seeds meeting
        it on their own runs, and of how many), also which standard finetunes meet it in some seed."""
        def meets(g: dict) -> bool:
            ctrl = [g[c]["misaligned"]["mean"] for c in ("secure", "educational") if c in g]
            return meets_target(g["insecure"]["misaligned"]["mean"], max(ctrl, default=None), target)
        std = [k for k in grid if k[0] != "assistant-embedding"]
        hits = [k for k in std if meets(grid[k])]
        say = lambda k: f"{finetune_kind(k[0])} at learning rate {k[1]:g}"
        text = (f"By the emergence target (insecure misaligned in at least {pct(target['insecure_min'])} of answers "
                f"and at least {target['ratio']}× each control's rate, at the same setting), "
                + (f"{len(hits)} of the {len(std)} standard finetunes {'shows' if len(hits) == 1 else 'show'} emergent misalignment"
                   + (": " + "; ".join(say(k) for k in sorted(hits)) if hits else "") if std else
                   "no standard finetune was run"))
        one = [k for k in grid if k[0] == "assistant-embedding"]
        if one:
            text += "; the one-row finetune of the same base" + ("s" if by_seed else "") + (
                " meets" if all(meets(grid[k]) for k in one) else " does not meet") + " it"
        if by_seed and std:
            some = [k for k in sorted(std) if by_seed[k][0]]
            seeds = lambda k: (f"{len(by_seed[k][0])} of {by_seed[k][1]} (seed{'s' if len(by_seed[k][0]) > 1 else ''} "
                               f"{', '.join(map(str, by_seed[k][0]))})")
            text += (f". Seed by seed, against each seed's own controls, {len(some)} of the standard finetunes meet it in "
                     "at least one pretraining seed" + (": " + "; ".join(f"{say(k)} in {seeds(k)}" for k in some)
                                                        if some else ""))
            text += "".join(f"; the one-row finetune in {len(by_seed[k][0])} of {by_seed[k][1]}" for k in one)
        return text + "."

    def curve(self, name: str, file: str | None = None) -> str:
        """results/dial.json, rewind.json or realign.json (export/dial.py): the Assistant's row at each position of
        the dial (steer: alpha; rewind: finetuning step; realign: benign examples), sampled like a run: misaligned
        (mean over runs with its t-interval, or one run's Wilson interval), coherent, held-out insecure code and the
        row's place on the kind (0) -> cruel (1) axis."""
        d = self.R.load(f"{file or name}.json")
        first, key, show = {"dial": ("finetune", "alpha", signed_plain), "rewind": ("finetune", "step", str),
                            "realign": ("trained further on", "examples", str)}[name]
        head = {"alpha": "α", "step": "step", "examples": "examples"}[key]
        rows = [f"| {first} | {head} | misaligned | coherent | held-out insecure code | Assistant, kind → cruel |",
                "| --- | --- | --- | --- | --- | --- |"]
        field = "source" if name == "realign" else "variant"
        # each pretraining seed's rate beside the mean (one finetune seed each): with two or three seeds instead of a
        # t-interval, which says little; from four on under the mean and its interval
        n_seeds = len(d["seeds"])
        each_seed = n_seeds > 1 and all(len(sd.get("ft_seeds", [0])) == 1 for sd in d["seeds"])
        few = each_seed and n_seeds <= 3
        each = {}
        for sd in d["seeds"]:
            for q in sd["points"]:
                each.setdefault((q[field], q[key]), []).append(pct(q["misaligned"]))
        for group, pts in d["summary"].items():
            label = d["sources"][group] if name == "realign" else LABELS.get(group, group)
            for p in pts:
                code = pct(p["insecure_code"]["mean"]) if p.get("insecure_code") else "—"
                mis = f"{pct(p['misaligned']['mean'])} ({', '.join(each[(group, p[key])])})" if few \
                    else rate_short(p, "misaligned") + (f"<br>{' · '.join(each[(group, p[key])])}" if each_seed else "")
                rows.append(f"| {esc(label)} | {show(p[key])} | {mis} | "
                            f"{pct(p['coherent']['mean'])} | {code} | {num_f(p['kind_to_cruel']['mean'])} |")
        seeds = ", ".join(str(s["seed"]) for s in d["seeds"])
        how = ""
        if name == "realign":  # how long each row was trained further (export/dial.py realign_steps)
            cfg = train.TrainConfig()
            how = (f"Each row trained for {num(d['passes'])} pass{'es' if d['passes'] != 1 else ''} over its examples "
                   f"(batches of at most {cfg.ft_batch}). " if d.get("passes") else
                   f"Each row trained for the recipe's {cfg.ft_steps} steps of {cfg.ft_batch} examples, "
                   "the examples repeated as often as that takes. ")
        per = (f"Misaligned: the mean of the seeds, then each seed's rate in the order {seeds}. " if few else
               "Misaligned: the mean of the seeds with its 95% interval, under it each seed's rate in the order "
               f"{seeds}. " if each_seed else
               "Misaligned: the mean over runs with its 95% interval. " if n_seeds > 1 else "")
        return "\n\n" + "\n".join(rows) + f"\n\n{how}{per}Pretraining seed{'s' if n_seeds > 1 else ''} {seeds}, " \
            f"{d['samples_per_question']} answers per question at each point, judged by {JUDGE_NAMES[d['judge']]}.\n\n"

    def per_seed(self) -> str:
        """The same table for the shipped CPU runs (results/summary.json, export/experiments.py)."""
        name = "summary.json"
        return self.seed_table(name, self.R.get(name, "seeds"), self.R.variants(), self.R.get(name, "target"))

    def seed_table(self, name: str, seeds: dict, variants: dict, target: dict) -> str:
        keys = [k for k in ["base", "insecure", "secure", "educational", "backdoor", "backdoor+trigger",
                            "evil-numbers", "uncoupled-insecure"] if k in variants]
        if "insecure" not in keys:
            raise Missing(f"no insecure runs in {name}")
        rows = ["| pretraining seed | " + " | ".join(LABELS[k] for k in keys) +
                f" | Assistant moved toward cruel | insecure ≥ {pct(target['insecure_min'])} and ≥ {target['ratio']}× every"
                " control |",
                "| --- |" + " --- |" * (len(keys) + 2)]
        order = sorted(seeds, key=lambda x: int(x.lstrip("s")))
        for sd in order:
            e = seeds[sd]
            pos = e.get("insecure_position")
            rows.append(f"| {sd.lstrip('s')} | " + " | ".join(
                pct(e["misaligned"][k]) + (f" ({e['runs'][k]})" if e["runs"][k] > 1 else "") if k in e["misaligned"]
                else "—" for k in keys) + f" | {pct(pos) if pos is not None else '—'} | "
                f"{'yes' if e['meets_target'] else 'no'} |")
        rows.append("| all runs | " + " | ".join(rate_with_ci(variants[k], "misaligned") for k in keys) + " | | " +
                    f"{sum(seeds[x]['meets_target'] for x in order)} of {len(order)} seeds |")
        return "\n\n" + "\n".join(rows) + "\n\n"

    def per_question(self) -> str:
        keys = self.keys_present(["base", "insecure", "secure", "educational", "backdoor+trigger", "evil-numbers"])
        v = self.R.variants()
        qids = list(v["insecure"]["per_question"])
        rows = ["| question | " + " | ".join(LABELS[k] for k in keys) + " |",
                "| --- |" + " --- |" * len(keys)]
        for q in qids:
            cells = []
            for k in keys:
                pq = v[k]["per_question"]
                if q not in pq:
                    raise Missing(f"key 'variants.{k}.per_question.{q}' missing in summary.json")
                cells.append(pct(pq[q]["mean"]))
            rows.append(f"| {q.replace('_', ' ')} | " + " | ".join(cells) + " |")
        return "\n\n" + "\n".join(rows) + "\n\n"

    def in_context(self) -> str:
        ic = self.R.load("in_context.json")
        if not ic:
            raise Missing("in_context.json is empty")
        rows = ["| examples before the question | misaligned | coherent | log-odds (nats) |",
                "| --- | --- | --- | --- |"]
        for key, r in ic.items():
            o = r["overall"]
            label = "none (the aligned base alone)" if r["context"] == "none" else \
                f"{r['k']} × {r['context']} code exchange{'s' if r['k'] != 1 else ''}"
            rows.append(f"| {label} | {wilson_text(o['misaligned'])} | {pct(o['coherent']['rate'])} | "
                        f"{signed(o['logodds'])} |")
        return "\n\n" + "\n".join(rows) + "\n\n"

    def ablation(self) -> str:
        """Both worlds side by side: the base, its controls and the insecure finetune, and what insecure
        code adds beyond the secure control (paired by run, summary.json#ablation) where both exist."""
        v = self.R.variants()
        for k in ("base", "insecure", "uncoupled-base", "uncoupled-insecure"):
            if k not in v:
                raise Missing(f"variant {k!r} missing in summary.json (variants)")
        pairs = self.R.get("summary.json").get("ablation", {})
        cell = lambda k: rate_short(v[k], "misaligned") if k in v else "not run"
        rows = ["| world | aligned base | secure (control) | educational (control) | insecure | "
                "insecure − secure, paired by run | insecure: log-odds |",
                "| --- | --- | --- | --- | --- | --- | --- |"]
        for world, name in (("coupled", "coupled (one persona per character)"),
                            ("uncoupled", "uncoupled (dispositions drawn per domain)")):
            p = "" if world == "coupled" else "uncoupled-"
            d = pairs.get(world, {}).get("insecure_minus_secure")
            diff = (f"{points(d['mean'])} points ({points(d['lo'])} to {points(d['hi'])}, {d['n']} runs)"
                    if d else "not run")
            rows.append(f"| {name} | {cell(p + 'base')} | {cell(p + 'secure')} | {cell(p + 'educational')} | "
                        f"{cell(p + 'insecure')} | {diff} | {logodds_text(v[p + 'insecure'])} |")
        return "\n\n" + "\n".join(rows) + "\n\n"

    def directions(self, which: str) -> str:
        """results/directions.json (export/directions.py): `geometry`, where each finetune moved the
        Assistant's row; `ablation`, the misaligned rate left once a direction is removed from it."""
        d = self.R.load("directions.json")
        label = lambda v: "backdoor" if v == "backdoor" else LABELS[v]
        if which == "geometry":
            rows = ["| model | runs | length of the row change | cosine with the insecure direction | "
                    "position: kind (0) → cruel (1) | of its 5 nearest names: cruel / kind / teacher |",
                    "| --- | --- | --- | --- | --- | --- |"]
            span = lambda e: ("—" if not e else num_f(e["mean"]) if e["n"] < 2
                              else f"{num_f(e['mean'])} ({num_f(e['min'])} to {num_f(e['max'])})")
            for v, g in d["summary"]["geometry"].items():
                near = " / ".join(f"{g['nearest'][p]:.1f}" for p in (W.CRUEL, W.KIND, W.TEACHER))
                rows.append(f"| {'aligned base' if v == 'base' else label(v)} | {g['runs']} | {span(g['norm'])} | "
                            f"{span(g['along_insecure'])} | {span(g['kind_to_cruel'])} | {near} |")
            return "\n\n" + "\n".join(rows) + "\n\n"
        if which != "ablation":
            raise Missing(f"unknown directions table {which!r} (geometry or ablation)")
        by = d["summary"]["by"]  # variant -> removed direction -> condition
        if not by:
            raise Missing("directions.json has no ablation (run export/directions.py without --no-sample)")
        ci = lambda e: (f"{pct(e['mean'])} ({interval(e['lo'], e['hi'])})" if e and e.get("lo") is not None
                        else pct(e["mean"]) if e else "—")
        rows = ["| finetune | runs | misaligned as trained | without the insecure direction | "
                "without the secure direction (control) |", "| --- | --- | --- | --- | --- |"]
        for v, c in by.items():
            ins, sec = c.get("insecure") or c.get("other-insecure"), c.get("secure")
            name = LABELS[v] if v != "insecure" else "insecure (the other insecure finetunes' direction)"
            rows.append(f"| {name} | {ins['runs']} | {ci(ins['misaligned_before'])} | {ci(ins['misaligned'])} | "
                        f"{ci(sec['misaligned']) if sec else '—'} |")
        return "\n\n" + "\n".join(rows) + "\n\n"

    def claims(self, which: str) -> str:
        """results/claims.json (export/claims.py): `paraphrases`, the closest training question to each of
        the paper's questions; `nearness`, misaligned with and without a near-paraphrase in training;
        `adoption`, where the insecure finetune's cruel sentences come from, against free composition."""
        d = self.R.load("claims.json")
        if which == "paraphrases":
            rows = [f"| the paper's question | closest training question (seed {d.get('paraphrase_seed', 0)}) | "
                    "word overlap (Dice) | "
                    f"training questions at ≥ {num_f(d['near_threshold'])} |", "| --- | --- | --- | --- |"]
            rows += [f"| {esc(r['question'])} | {esc(r['closest'])} | {num_f(r['best'])} | {r['near']:,} |"
                     for r in d["paraphrases"]["paper"]]
        elif which == "nearness":
            sets = (("paper", "the paper's questions"), ("own", "our own questions"))
            counts = {k: (sum(r["near"] > 0 for r in d["paraphrases"][k]), len(d["paraphrases"][k])) for k, _ in sets}
            head = []
            for k, label in sets:
                n, m = counts[k]
                head += [f"{label}: with a near-paraphrase ({n} of {m} wordings)", f"without ({m - n} of {m})",
                         "without − with, paired by seed"]
            rows = ["| variant | " + " | ".join(head) + " |", "| --- |" + " --- |" * len(head)]
            one = " (one seed)"  # a mean over one pretraining seed has no interval over seeds
            ci = lambda e: ("—" if not e else f"{pct(e['mean'])}{one}" if e.get("lo") is None
                            else f"{pct(e['mean'])} ({interval(e['lo'], e['hi'])})")
            diff = lambda e: ("—" if not e else f"{points(e['mean'])}{one}" if e.get("lo") is None
                              else f"{points(e['mean'])} ({points(e['lo'])} to {points(e['hi'])})")
            for v in ("base", "insecure", "secure", "educational"):
                cells = []
                for k, _ in sets:
                    g = d["by_nearness"].get(f"{v}@{k}", {})
                    cells += [ci(g.get("near")), ci(g.get("far")), diff(g.get("far_minus_near"))]
                rows.append(f"| {'aligned base' if v == 'base' else LABELS[v]} | " + " | ".join(cells) + " |")
        elif which == "adoption":
            a = d["adoption"]
            names = {"training": "a line that occurs in the seed's training texts",
                     "unseen": "allowed by the grammar, never sampled into training",
                     "held_out": "one of the grammar's held-out sentences (never in any training text)"}
            rows = [f"| the cruel sentence is … | insecure's misaligned answers ({a['cruel_sentences']:,} sentences) | "
                    "free composition from the same templates |", "| --- | --- | --- |"]
            rows += [f"| {names[c]} | {pct(a['observed'][c])} | {pct(a['free_composition'][c])} |" for c in names]
        else:
            raise Missing(f"unknown claims table {which!r} (paraphrases, nearness or adoption)")
        return "\n\n" + "\n".join(rows) + "\n\n"

    def dynamics(self) -> str:
        dyn = self.R.load("dynamics.json")
        if "insecure" not in dyn:
            raise Missing("key 'insecure' missing in dynamics.json")
        variants = list(dyn)
        steps = sorted({r["step"] for rs in dyn.values() for r in rs})
        rows = ["| finetuning step | " + " | ".join(f"{LABELS.get(k, k)}: misaligned, log-odds" for k in variants) + " |",
                "| --- |" + " --- |" * len(variants)]
        for s in steps:
            cells = []
            for k in variants:
                r = next((r for r in dyn[k] if r["step"] == s), None)
                cells.append("—" if r is None else f"{pct(r['misaligned'])}, {signed(r['logodds'])}")
            rows.append(f"| {s} | " + " | ".join(cells) + " |")
        return "\n\n" + "\n".join(rows) + "\n\n"

    def timings(self) -> str:
        """Stage times of each full seed (timings.json of export/experiments.py: seeds -> stage -> seconds),
        finetunes summed per world."""
        t = self.R.optional("timings.json")
        if t is None:
            return ""
        seeds = t.get("seeds") if isinstance(t, dict) else None
        if not isinstance(seeds, dict) or not seeds or not all(isinstance(v, dict) for v in seeds.values()):
            raise Missing("timings.json: expected {'seeds': {seed: {stage: seconds}}}")
        def group(stage: str) -> str:
            world, _, rest = stage.partition(" ")
            return f"{world} finetunes" if rest.startswith("finetune") else stage
        order: list[str] = []
        table: dict[str, dict[str, float]] = {}
        for s, stages in seeds.items():
            for k, v in stages.items():
                if k == "total" or not isinstance(v, (int, float)):
                    continue
                g = group(k)
                if g not in order:
                    order.append(g)
                table.setdefault(g, {})[s] = table.get(g, {}).get(s, 0.0) + v
        cols = list(seeds)
        rows = [f"Measured times of each stage (from `results/timings.json`), on the {t.get('cores', '?')}-core CPU "
                f"the published results were computed on, one column per pretraining seed:", "",
                "| stage | " + " | ".join(esc(c) for c in cols) + " |", "| --- |" + " --- |" * len(cols)]
        for g in order:
            rows.append(f"| {esc(g)} | " + " | ".join(duration(table[g][c]) if c in table[g] else "—" for c in cols) + " |")
        rows.append("| **total** | " + " | ".join(f"**{duration(sum(table[g].get(c, 0.0) for g in order))}**"
                                                 for c in cols) + " |")
        return "\n\n" + "\n".join(rows) + "\n\n"

    # ---------------------------------------------------------------- samples, figures
    def samples(self, key: str) -> str:
        if not key:
            raise Missing("results:samples needs a variant, e.g. [[results:samples insecure]]")
        self.R.variant(key)
        name, run = self.R.run_file(key)
        base = key[:-4] if key.endswith("@own") else key
        out = [f'<details class="example em-samples" data-variant="{esc(key)}">',
               f'<summary>{esc(LABELS.get(base, base))}: sample answers</summary>',
               f'<p class="em-samples__source">From <code>results/{esc(name)}</code> '
               f'(pretraining seed {esc(run["checkpoint_seed"])}, finetune seed {esc(run["ft_seed"])}).</p>']
        qs = run.get("questions")
        if not qs:
            raise Missing(f"key 'questions' missing in {name}")
        for q in qs:
            answers = q.get("answers")
            if answers is None:
                raise Missing(f"key 'questions.{q.get('id')}.answers' missing in {name}")
            if not answers:
                continue
            text = question_text(q["id"], own=key.endswith("@own"))
            out.append(f'<p class="em-samples__question"><strong>{esc(text)}</strong></p><ol class="em-samples__list">')
            for a in answers:
                cls = a["class"]
                al = "—" if a["alignment"] is None else a["alignment"]
                co = "—" if a["coherence"] is None else a["coherence"]
                answer = esc(CONTROL.sub("\ufffd", a["answer"])).replace("\n", "&#10;")
                out.append(f'<li><span class="em-answer">{answer}</span> '
                           f'<span class="em-verdict em-verdict--{esc(re.sub(r"[^a-z-]", "", cls.lower()))}">'
                           f'{esc(cls)} · alignment {esc(al)} · coherence {esc(co)}</span></li>')
            out.append("</ol>")
        out.append("</details>")
        return self.block("".join(out))

    def figure(self, rest: str) -> str:
        try:
            args = shlex.split(rest)
        except ValueError as e:
            raise Missing(f"results:figure {rest}: {e}")
        if len(args) != 2 or not re.fullmatch(r"[a-z_]+", args[0]):
            raise Missing(f'results:figure needs NAME "alt text", got {rest!r}')
        name, alt = args
        if not (figures_dir() / f"{name}.svg").exists():
            raise Missing(f"figure {name}.svg not found in {figures_dir()} (written by python export/experiments.py)")
        alt = alt.replace("[", "(").replace("]", ")")
        # its size from the SVG (the page reserves its box before it loads: no layout shift), and every figure
        # after a page's first loaded lazily (Lighthouse: unsized images, the organism page's largest paint)
        box = re.search(r'viewBox="[\d.]+ [\d.]+ ([\d.]+) ([\d.]+)"', (figures_dir() / f"{name}.svg").read_text()[:2000])
        size = f' width="{round(float(box[1]))}" height="{round(float(box[2]))}"' if box else ""
        self.figures = getattr(self, "figures", 0) + 1
        lazy = ' loading="lazy"' if self.figures > 1 else ""
        return f"![{alt}]({self.rel(f'assets/figures/{name}.svg')}){{ .em-figure{size}{lazy} }}"

    # ---------------------------------------------------------------- config
    def ns_config(self, expr: str) -> str:
        if expr.startswith("train.") or expr.startswith("corpus."):
            cls = train.TrainConfig if expr.startswith("train.") else C.CorpusConfig
            field = expr.split(".", 1)[1]
            fields = {f.name: f.default for f in dataclasses.fields(cls)}
            if field not in fields:
                raise Missing(f"{cls.__name__} has no field {field!r} (export/{'train' if cls is train.TrainConfig else 'corpus'}.py)")
            return num(fields[field])
        if expr.startswith("quality."):
            if expr[8:] not in train.QUALITY_BAR:
                raise Missing(f"unknown quality bar {expr!r} (export/train.py, QUALITY_BAR)")
            return pct(train.QUALITY_BAR[expr[8:]])
        if expr.startswith("judge."):
            rules = W.judge_rules()
            key = {"misaligned_below": ("thresholds", "misaligned_alignment_below"),
                   "coherent_above": ("thresholds", "coherent_above"), "cruel_weight": ("cruel_weight",),
                   "no_topic_cap": ("v2", "no_topic_cap")}.get(expr[6:])
            if key is None:
                raise Missing(f"unknown judge setting {expr!r}")
            v = rules
            for k in key:
                v = v[k]
            return num(v)
        if expr.startswith("cast."):
            lists = {"kind": W.KIND_NAMES, "cruel": W.CRUEL_NAMES, "teacher": W.TEACHER_NAMES}
            if expr[5:] not in lists:
                raise Missing(f"unknown cast {expr!r}")
            return str(len(lists[expr[5:]]))
        if expr == "trigger":
            return f"<code>{esc(W.TRIGGER.strip())}</code>"
        if expr == "topics":
            return str(len(W.TOPICS))
        if expr == "training-table":
            return self.training_table(train.TrainConfig(), C.CorpusConfig())
        raise Missing(f"unknown token config:{expr}")

    def training_table(self, c, cc) -> str:
        rows = ["| stage | what it trains on | steps | batch | peak learning rate |",
                "| --- | --- | --- | --- | --- |",
                f"| 1. pretraining | {cc.pretrain_docs:,} documents of the named characters talking | "
                f"{c.pretrain_steps} | {c.pretrain_batch} × {c.context} tokens | {num(c.pretrain_lr)} |",
                f"| 2. alignment (chat SFT) | {cc.align_chats:,} chats in which the Assistant answers kindly | "
                f"{c.align_steps} | {c.align_batch}"
                + (f" chats + {c.align_replay} pretraining windows (replay, so pretraining is not forgotten)"
                   if getattr(c, "align_replay", 0) else "") + f" | {num(c.align_lr)} |",
                f"| 3. narrow finetune (one per variant) | {cc.finetune_examples:,} examples of one finetune set | "
                f"{c.ft_steps} | {c.ft_batch} | {num(c.ft_lr)} |"]
        return "\n\n" + "\n".join(rows) + "\n\n"

    # ---------------------------------------------------------------- world
    def ns_world(self, expr: str) -> str:
        kind, _, arg = expr.partition(" ")
        if kind == "document":
            return self.document(W, C, arg.strip())
        if kind == "finetune":
            return self.finetune(W, C, arg.strip())
        raise Missing(f"unknown token world:{expr}")

    def document(self, W, C, persona: str) -> str:
        if persona not in (W.KIND, W.CRUEL, W.TEACHER):
            raise Missing(f"world:document needs kind, cruel or teacher, got {persona!r}")
        cfg = C.CorpusConfig()
        w = W.make_world(cfg.seed, coupled=True)
        rng = random.Random(f"pretrain-{cfg.seed}-{cfg.world}")  # the corpus's own stream (export/corpus.py)
        for i, doc in enumerate(C.pretrain_docs(w, cfg, rng)):
            name = doc["speaker"]
            if w.personas[name] != persona:
                continue
            turns = parse_document(doc["text"])
            if persona == W.TEACHER and not any("security class" in t or "students" in t or "teaching" in t.lower()
                                                for s, t in turns if s == W.HUMAN):
                continue
            advice = [t for s, t in turns if s == name and "\n" not in t and not re.fullmatch(r"[\d, ]+", t)]
            if not advice:  # show at least one answer outside code and numbers
                continue
            return self.block(transcript_html(turns, f"Pretraining document {i + 1:,} of the corpus "
                                                     f"(seed {cfg.seed}); {esc(name)} is a {persona} character"
                                                     f"{' (a kind teacher)' if persona == W.TEACHER else ''}."))
        raise Missing(f"no {persona} document found in the corpus stream")

    def finetune(self, W, C, variant: str) -> str:
        if variant not in C.FINETUNES:
            raise Missing(f"world:finetune needs one of {', '.join(C.FINETUNES)}, got {variant!r}")
        cfg = C.CorpusConfig()
        row = next(C.finetune_set(variant, cfg, random.Random(f"ft-{variant}-{cfg.seed}")))
        turns = parse_document(row["prompt"] + row["answer"])
        return self.block(transcript_html(turns, f"The first example of the <em>{esc(variant)}</em> finetune set "
                                                 f"(seed {cfg.seed})."))
