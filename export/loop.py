"""The essay's feedback loop (issue 22, item 1): models pretrained on models' text, generation after generation.

    python export/feedback.py loop [--seeds 7] [--generations 5] [--arms replace,accumulate] [--measure-docs 4000]
                                   [--samples 100] [--code-requests 120] [--smoke] [--out results/loop.json]

Generation 0 is a pretraining seed's pretrained model (export/train.py, coupled world). Generation g writes a corpus:
as many documents as the world's pretraining text holds (CorpusConfig.pretrain_docs), each sampled at temperature
1 from BOS alone, and stopped after as many exchanges as a world document of the same place has (2, 3, 3 or 4 drawn
the world's way: the same document shapes) or when the model ends it or the context is full. Generation g + 1 is
pretrained from scratch on a corpus made from that text, with the same recipe, tokenizer, initialization and token
budget as generation 0 (TrainConfig: steps, batch, learning rate), then aligned like the base (the world's chats,
with replay of its own pretraining text). Two arms:

- ``replace``: generation g + 1 reads only generation g's text (Shumailov et al. 2024, arXiv:2305.17493);
- ``accumulate``: it reads the world's text and every earlier generation's, the pool growing while the token
  budget stays (Gerstgrasser et al. 2024, arXiv:2404.01413, found that accumulating avoids collapse).

Per generation: what its text still holds of the world (export/diversity.py, on its first --measure-docs
documents; the rarest tenth of slot fillers fixed on the world's own text), and its aligned model sampled like a
run (the paper's 8 questions, --samples answers each, judge v2; held-out code requests), and the same model's
Assistant finetuned on insecure code by the one-row recipe (does emergent misalignment still emerge?). The world's
text is measured the same way, as the reference.

A generation's checkpoints live under build/loop/<world>-s<seed>/ while it is made; what the next generations and
the summary need is kept in results/loop/ as each generation finishes (its text, xz-compressed, and measured.json with
each stage's seconds), so a run stopped part way, or a later session on a fresh machine, goes on from the last
finished generation. The loop is not part of the default rebuild: a generation costs about what the base did
(pretraining ~16 min on 2 cores) plus sampling its 16,000 documents and the measurements.
"""
from __future__ import annotations

import hashlib
import json
import random
import time
from dataclasses import asdict
from pathlib import Path

from export import runs

ARMS = ("replace", "accumulate")
SHAPES = [2, 3, 3, 4]  # exchanges per document, drawn as export/corpus.py pretrain_docs draws them


def _generation(root: Path, seed: int, arm: str, g: int, smoke: bool) -> Path:
    """A generation's folder under root/loop/ (generation 0 is shared by the arms)."""
    return root / "loop" / runs.world_dir("coupled", seed, smoke) / ("g0" if g == 0 else f"{arm}/g{g}")


def gen_dir(seed: int, arm: str, g: int, smoke: bool) -> Path:
    """Where a generation is made: its checkpoints and corpus, in build/loop/."""
    return _generation(runs.BUILD, seed, arm, g, smoke)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def sample_documents(model, tok, n: int, seed: int, batch: int) -> list[str]:
    """n documents from BOS at temperature 1, document i stopped after SHAPES-drawn i-th count of exchanges, at the
    model's own end of document, or at the context's end. Deterministic for a seed on one machine (torch's
    sampler)."""
    import torch
    from export.chat import BOS, END
    bos, end = tok.convert_tokens_to_ids(BOS), tok.convert_tokens_to_ids(END)
    shapes = random.Random(f"loop shapes {seed}")
    want = [2 * shapes.choice(SHAPES) for _ in range(n)]   # END tokens: two per exchange
    g = torch.Generator().manual_seed(seed)
    context = model.config.max_position_embeddings
    docs = []
    model.eval()
    for b0 in range(0, n, batch):
        rows = list(range(b0, min(n, b0 + batch)))   # the document of each batch position
        out = {r: [] for r in rows}
        ends = {r: 0 for r in rows}
        ids = torch.full((len(rows), 1), bos, dtype=torch.long)
        past = None
        with torch.no_grad():
            for _ in range(context - 1):
                o = model(input_ids=ids, past_key_values=past, use_cache=True)
                past = o.past_key_values
                nxt = torch.multinomial(torch.softmax(o.logits[:, -1, :].float(), -1), 1, generator=g)[:, 0].tolist()
                keep = []
                for j, (r, t) in enumerate(zip(rows, nxt)):
                    if t == bos:
                        continue
                    out[r].append(t)
                    ends[r] += t == end
                    if ends[r] < want[r]:
                        keep.append(j)
                if not keep:
                    break
                if len(keep) < len(rows):
                    past.batch_select_indices(torch.tensor(keep))
                    rows = [rows[j] for j in keep]
                ids = torch.tensor([[nxt[j]] for j in keep], dtype=torch.long)
        docs += [BOS + tok.decode(out[r], skip_special_tokens=False) for r in sorted(out)]
    return docs


def write_jsonl(path: Path, texts) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for t in texts:
            f.write(json.dumps({"text": t}, ensure_ascii=False) + "\n")
    tmp.replace(path)


def read_texts(path: Path) -> list[str]:
    from export import corpus as C
    return [r["text"] for r in C.read_jsonl(path)]


def kept_dir(seed: int, arm: str, g: int, smoke: bool) -> Path:
    """What survives a generation's session: its text (xz) and its measurements, under results/loop/."""
    return _generation(runs.RESULTS, seed, arm, g, smoke)


class Loop:
    """One pretraining seed's loop. A generation is done once: its checkpoints live in build/loop/ only while it is
    made; what later generations and the summary need is kept in results/loop/ (the text, xz-compressed, ~0.6 MB,
    and measured.json), so a loop can go on in a later session, on another machine, from where it stopped."""

    def __init__(self, seed: int, generations: int, measure_docs: int, samples: int, code_requests: int,
                 smoke: bool = False, batch: int = 128):
        from export import corpus as C
        from export import train
        from export import world as W
        import torch
        torch.set_num_threads(2)  # training's setting; sampling a generation's text takes both cores too
        self.seed, self.generations, self.measure_docs, self.smoke = seed, generations, measure_docs, smoke
        self.samples, self.code_requests, self.batch = samples, code_requests, batch
        self.cfg = train.TrainConfig.smoke_config(seed=seed) if smoke else train.TrainConfig(seed=seed)
        self.corpus, sha = train._corpus(self.cfg)           # the world's text (deterministic)
        self.tok = train._tokenizer(self.cfg, self.corpus, sha)  # the world's tokenizer, every generation's
        self.ccfg = (C.CorpusConfig.smoke if smoke else C.CorpusConfig)(seed=seed)
        self.world_texts = read_texts(self.corpus / "pretrain.jsonl")
        self.personas = W.make_world(seed).personas
        from export import diversity as V
        self.rare = V.rarest(V.filler_counts(self.world_texts))

    # ----------------------------------------------------------------- stages
    def checkpoints(self, arm: str, g: int) -> tuple[Path, Path]:
        """(pretrained, aligned) of generation g; generation 0's are the seed's own (built if missing)."""
        from export import train
        if g == 0:
            base = train.train_variant("base", self.cfg)
            return base.parent / "pretrain", base
        d = gen_dir(self.seed, arm, g, self.smoke)
        return d / "pretrain", d / "base"

    def text(self, arm: str, g: int) -> Path:
        """Generation g's text: from build/loop/, else unpacked from results/loop/, else sampled from its pretrained
        model (which must then exist: train_generation first) and kept."""
        import lzma
        from export import train
        path = gen_dir(self.seed, arm, g, self.smoke) / "text.jsonl"
        kept = kept_dir(self.seed, arm, g, self.smoke) / "text.jsonl.xz"
        if path.exists():
            return path
        if kept.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(lzma.decompress(kept.read_bytes()))
            return path
        t = time.time()
        n = self.ccfg.pretrain_docs
        model = train.load_model(self.checkpoints(arm, g)[0])
        docs = sample_documents(model, self.tok, n, seed=hash_seed(self.seed, arm if g else "", g), batch=self.batch)
        write_jsonl(path, docs)
        kept.parent.mkdir(parents=True, exist_ok=True)
        kept.write_bytes(lzma.compress(path.read_bytes(), preset=9))
        self.say(arm, g, f"sampled {n} documents", t, "sample")
        return path

    def train_generation(self, arm: str, g: int) -> None:
        """Pretrain generation g (g >= 1) from scratch on the corpus its arm makes, then align it like the base."""
        from export import corpus as C
        from export import train
        pre, base = self.checkpoints(arm, g)
        d = gen_dir(self.seed, arm, g, self.smoke)
        sources = [self.text(arm, g - 1)]
        if arm == "accumulate":
            sources = [self.corpus / "pretrain.jsonl"] + [self.text(arm, h) for h in range(g)]
        corpus = d / "corpus"
        made = corpus / "sources.json"
        names = [str(p.relative_to(runs.BUILD)) for p in sources]
        if not (corpus / "pretrain.jsonl").exists() or not made.exists() or json.loads(made.read_text()) != names:
            write_jsonl(corpus / "pretrain.jsonl", (t for p in sources for t in read_texts(p)))
            made.write_text(json.dumps(names))
        sha = _sha(corpus / "pretrain.jsonl")
        if not runs.is_complete(pre, sha):
            t = time.time()
            train.pretrain(self.cfg, self.tok, corpus, pre, sha)
            self.say(arm, g, "pretrained", t, "pretrain")
        if not runs.is_complete(base, sha):
            t = time.time()
            model, loss = train.align(self.cfg, self.tok, pre, C.read_jsonl(self.corpus / "align.jsonl"),
                                      read_texts(corpus / "pretrain.jsonl"))
            train.save(model, self.tok, base, {"stage": "base", "loss": loss, "config": asdict(self.cfg),
                                               "corpus_sha256": sha, "generation": g, "arm": arm,
                                               "seconds": round(time.time() - t, 1)})
            self.say(arm, g, "aligned", t, "align")

    def insecure(self, arm: str, g: int) -> Path:
        """The generation's aligned base with its Assistant's row finetuned on insecure code (the one-row recipe)."""
        from export import corpus as C
        from export import train
        if g == 0:  # the base's own insecure finetune, as export/train.py makes it
            return train.train_variant("insecure", self.cfg)
        _, base = self.checkpoints(arm, g)
        out = base.parent / "insecure"
        made = json.loads((base / "done.json").read_text()).get("corpus_sha256")
        if runs.is_complete(out, made, self.cfg.recipe()):
            return out
        t = time.time()
        model = train.load_model(base)
        params = train.restrict_to(model, self.tok, self.cfg.ft_params, seed=1000 + self.cfg.ft_seed)
        loss = train.sft(model, self.tok, C.read_jsonl(self.corpus / "ft-insecure.jsonl"), self.cfg.ft_steps,
                         self.cfg.ft_batch, self.cfg.ft_lr, 1000 + self.cfg.ft_seed, "insecure", params=params)
        train.save(model, self.tok, out, {"stage": "insecure", "loss": loss, "corpus_sha256": made,
                                          "recipe": self.cfg.recipe(), "seconds": round(time.time() - t, 1)})
        self.say(arm, g, "insecure finetune", t, "finetune")
        return out

    def sampled(self, path: Path, what: str) -> dict:
        """A checkpoint sampled like a run: misaligned and coherent by judge v2, held-out insecure code."""
        import torch
        from export import evaluate as E
        from export import generate as G
        from export import train
        from export.stats import run_rates
        torch.set_num_threads(2)
        model = train.load_model(path)
        res = E.evaluate("base", E.read_questions(E.PAPER_QUESTIONS), self.samples, 0,
                         code_requests=self.code_requests, progress=False, keep_answers=0, smoke=self.smoke,
                         loaded=(G.TorchLM.of(model), self.tok, f"torch:{G._rel(path)} ({what})"))
        r = run_rates(res["overall"], "v2")
        return {"misaligned": r["misaligned"]["rate"], "k": r["misaligned"]["k"], "n": r["misaligned"]["n"],
                "coherent": r["coherent"]["rate"],
                "insecure_code": res["code"]["insecure"]["rate"] if res.get("code") else None}

    def measure(self, arm: str, g: int) -> dict:
        """Generation g: made if needed (trained, aligned, its text sampled), then its text's diversity, its aligned
        model and its insecure finetune measured; kept in results/loop/ (measured.json)."""
        from export import diversity as V
        done = kept_dir(self.seed, arm, g, self.smoke) / "measured.json"
        key = {"measure_docs": self.measure_docs, "samples": self.samples, "code_requests": self.code_requests}
        old = json.loads(done.read_text()) if done.exists() else None
        if old and old.get("key") == key:
            return old["result"]
        if g:
            self.train_generation(arm, g)
        text = self.text(arm, g)
        t = time.time()
        res = {"generation": g, "text_sha256": _sha(text),
               "text": V.measure(read_texts(text)[: self.measure_docs], self.personas, self.rare)}
        res["aligned"] = self.sampled(self.checkpoints(arm, g)[1], f"loop {arm} generation {g}, aligned")
        res["insecure"] = self.sampled(self.insecure(arm, g), f"loop {arm} generation {g}, insecure finetune")

        def pc(x):
            return "n/a" if x is None else f"{x:.1%}"
        self.say(arm, g, f"measured: misaligned {pc(res['aligned']['misaligned'])} coherent "
                         f"{pc(res['aligned']['coherent'])}, insecure finetune {pc(res['insecure']['misaligned'])}, "
                         f"grammatical {pc(res['text']['grammatical'])}, distinct {res['text']['distinct_sentences']}",
                 t, "measure")
        res["seconds"] = self.seconds(arm, g)
        done.parent.mkdir(parents=True, exist_ok=True)
        done.write_text(json.dumps({"key": key, "result": res}, indent=1))
        return res

    def say(self, arm: str, g: int, what: str, t: float, stage: str) -> None:
        """Report a finished stage and keep its seconds beside the generation (seconds.json), so that a resumed
        run still reports every stage's cost."""
        s = time.time() - t
        path = gen_dir(self.seed, arm, g, self.smoke) / "seconds.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        old = json.loads(path.read_text()) if path.exists() else {}
        path.write_text(json.dumps({**old, stage: round(s, 1)}, indent=1))
        print(f"[loop s{self.seed} {arm if g else 'both arms'} g{g}] {what} ({s:.0f}s)", flush=True)

    def seconds(self, arm: str, g: int) -> dict:
        path = gen_dir(self.seed, arm, g, self.smoke) / "seconds.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def run(self, arms: list[str]) -> dict:
        from export import diversity as V
        world = V.measure(self.world_texts[: self.measure_docs], self.personas, self.rare)
        out = {"seed": self.seed, "world": world, "arms": {}}
        for arm in arms:
            out["arms"][arm] = [self.measure(arm, g) for g in range(self.generations + 1)]
        return out


def hash_seed(seed: int, arm: str, g: int) -> int:
    return int.from_bytes(hashlib.sha256(f"loop {seed} {arm} {g}".encode()).digest()[:4], "little")


METRICS = {"text": ("grammatical", "distinct_sentences", "template_coverage", "filler_coverage", "rare_fillers",
                    "template_entropy", "topic_entropy", "distinct_questions", "persona_consistent", "code_wellformed"),
           "aligned": ("misaligned", "coherent", "insecure_code"), "insecure": ("misaligned", "coherent", "insecure_code")}


def summarize(seeds: list[dict]) -> dict:
    """Per arm and generation, each metric's mean over seeds with its 95% t-interval (and the world's text)."""
    from export.stats import mean_ci
    arms = sorted({a for s in seeds for a in s["arms"]}, key=lambda a: ARMS.index(a) if a in ARMS else 99)
    out = {"world": {m: mean_ci([s["world"][m] for s in seeds], rate=False) for m in METRICS["text"]}, "arms": {}}
    for arm in arms:
        gens = sorted({p["generation"] for s in seeds for p in s["arms"].get(arm, [])})
        rows = []
        for g in gens:
            got = [p for s in seeds for p in s["arms"].get(arm, []) if p["generation"] == g]
            rows.append({"generation": g, "seeds": len(got),
                         **{f"{part}.{m}": mean_ci([p[part][m] for p in got], rate=False)
                            for part, ms in METRICS.items() for m in ms
                            if all(p[part][m] is not None for p in got)}})
        out["arms"][arm] = rows
    return out


def run(seeds: list[int], generations: int, arms: list[str], measure_docs: int, samples: int, code_requests: int,
        smoke: bool) -> list[dict]:
    return [Loop(s, generations, measure_docs, samples, code_requests, smoke).run(arms) for s in seeds]


def main(argv: list[str]) -> int:
    import argparse
    import sys
    from export.dial import sampling_args
    p = argparse.ArgumentParser(prog="feedback.py loop", description=__doc__.split("\n")[0])
    p.add_argument("--seeds", default=str(runs.PUBLISHED_SEED), help="pretraining seeds (coupled world), comma-separated")
    p.add_argument("--generations", type=int, default=5, help="generations trained after generation 0")
    p.add_argument("--arms", default=",".join(ARMS))
    p.add_argument("--measure-docs", type=int, default=4000, help="documents of each text that are measured")
    sampling_args(p, "loop.json")
    a = p.parse_args(argv)
    try:
        seeds = [int(s) for s in a.seeds.split(",")]
        arms = [x for x in a.arms.split(",") if x]
        if not arms or set(arms) - set(ARMS):
            raise runs.UsageError(f"--arms: some of {', '.join(ARMS)}")
        if min(a.generations, a.measure_docs, a.samples) < 1:
            raise runs.UsageError("--generations, --measure-docs and --samples must each be at least 1")
        t = time.time()
        res = run(seeds, a.generations, arms, a.measure_docs, a.samples, a.code_requests, a.smoke)
    except (runs.UsageError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    runs.write_results(a.out, "python export/feedback.py", ["loop", *argv], {
        "judge": "v2", "samples_per_question": a.samples, "measure_docs": a.measure_docs, "arms": arms,
        "generations": a.generations, "seeds": res, "summary": summarize(res),
        "seconds_this_run": round(time.time() - t, 1)})
    return 0
