"""Tokenizer: byte-level BPE trained on the corpus, saved in Hugging Face format.

    python export/tokenizer.py --corpus build/corpus/coupled-s0 [--vocab 3072] [--out DIR]

Prefix space on (answer openings garbled without it in a pilot); the two special tokens of
FORMATS.md are ids 0 and 1; model_input_names without token_type_ids (they break generate).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from export.chat import BOS, END, SPECIAL_TOKENS


def train_tokenizer(texts, vocab_size: int = 3072):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=BOS, eos_token=END, pad_token=BOS,
                                   unk_token=None, model_input_names=["input_ids", "attention_mask"],
                                   clean_up_tokenization_spaces=False)
    fast.add_bos_token = False
    return fast


def corpus_texts(corpus: Path):
    for name in ["pretrain.jsonl", "align.jsonl"] + sorted(p.name for p in corpus.glob("ft-*.jsonl")):
        with open(corpus / name, encoding="utf-8") as f:
            for line in f:
                r = json.loads(line)
                yield r["text"] if "text" in r else r["prompt"] + r["answer"]


def build(corpus: Path, out: Path, vocab_size: int = 3072):
    tok = train_tokenizer(corpus_texts(corpus), vocab_size)
    out.mkdir(parents=True, exist_ok=True)
    tok.save_pretrained(out)
    return tok


def load(path: Path):
    from transformers import PreTrainedTokenizerFast
    return PreTrainedTokenizerFast.from_pretrained(str(path))


def main(argv=None):
    p = argparse.ArgumentParser(description="Train the byte-level BPE tokenizer on a corpus.")
    p.add_argument("--corpus", type=Path, required=True)
    p.add_argument("--vocab", type=int, default=3072)
    p.add_argument("--out", type=Path)
    a = p.parse_args(argv)
    if not (a.corpus / "pretrain.jsonl").exists():
        print(f"error: no corpus at {a.corpus} (run export/corpus.py first)", file=sys.stderr)
        return 2
    out = a.out or a.corpus / "tokenizer"
    tok = build(a.corpus, out, a.vocab)
    print(f"tokenizer {out}: {len(tok)} tokens")


if __name__ == "__main__":
    sys.exit(main())
