"""Greedy BLEU on dev with the full vocabulary against lexical shortlists of several sizes.

For each (k, N), the shortlist is built from the data directory's word-aligned training
split with the artifact's tokenizers (as ``python -m model_export shortlist`` builds it),
and the dev sentences are translated greedily ``--batch`` at a time: a step scores the
union of its sentences' candidates, so a larger batch scores more pieces. Prints k, N, the
mean candidates per sentence and per step, BLEU, its difference from the full vocabulary,
and sentences/s. The speed column means something only on a quiet machine, with the
settings alternated over rounds (the fastest round of each is kept); BLEU does not depend
on the machine.

    python -m bench.shortlist --model models/en-es --data work/data --limit 200
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import sacrebleu

from model_export.corpus import read_tsv
from model_export.shortlist import count_corpus, make_shortlist
from service.inference.artifact import load_artifact
from service.inference.runtime import RuntimeOptions
from service.inference.search import Decoding, SearchOptions
from service.inference.shortlist import Shortlist
from service.inference.translator import Translator


class CountingTranslator(Translator):
    """The translator, counting steps and the pieces each step scored."""

    steps = 0
    scored = 0  # pieces scored per row, summed over steps (the vocabulary when full)

    def step(self, decodings: list[Decoding]) -> None:
        super().step(decodings)
        self.steps += 1
        vocabulary = int(self.artifact.sizes["tgt_vocab_size"])
        self.scored += self.pool.last_step_candidates or vocabulary


@dataclass
class Setting:
    k: int  # 0: the full vocabulary
    frequent: int
    shortlist: Shortlist | None
    mean_candidates: float  # per sentence
    bleu: float = 0.0
    step_candidates: float = 0.0
    sentences_per_s: float = 0.0
    target_tokens_per_s: float = 0.0


def translate_all(
    translator: CountingTranslator, sources: list[str], batch: int
) -> tuple[list[str], float, int]:
    """Hypotheses, seconds and target tokens of a greedy pass over ``sources``."""
    options = SearchOptions(beam_size=1)
    hypotheses: list[str] = []
    tokens = 0
    start = time.perf_counter()
    for first in range(0, len(sources), batch):
        for translation in translator.translate(sources[first : first + batch], options):
            hypotheses.append(translation.text)
            tokens += len(translation.target_tokens)
    return hypotheses, time.perf_counter() - start, tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=Path("models/en-es"))
    parser.add_argument("--data", type=Path, required=True, help="prepared, word-aligned data")
    parser.add_argument("--split", default="dev")
    parser.add_argument("--limit", type=int, default=200, help="first N pairs of the split")
    parser.add_argument("--batch", type=int, default=1, help="sentences translated together")
    parser.add_argument("--k", default="20,50,100", help="target pieces per source piece")
    parser.add_argument("--frequent", default="100,300", help="most frequent pieces, always")
    parser.add_argument("--rounds", type=int, default=1, help="timing rounds, alternated")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--precision", default="fp32", choices=["fp32", "int8"])
    args = parser.parse_args()

    artifact = load_artifact(args.model, args.precision)
    if artifact.shortlist_path is None:
        raise SystemExit(f"{args.model}: no shortlist; run `make shortlist MODEL=...` first")
    base = Translator.from_directory(
        args.model,
        args.precision,
        RuntimeOptions(device="cpu", intra_op_threads=args.threads, shortlist=True),
    )
    translator = CountingTranslator(
        base.artifact, base.model, base.tokenizer, base.max_source_tokens
    )
    pairs = read_tsv(args.data / f"{args.split}.tsv")[: args.limit or None]
    sources, references = [p.source for p in pairs], [p.target for p in pairs]
    source_ids = [s.ids for s in translator.encode_sources(sources)]
    counts = count_corpus(args.data, artifact.source_tokenizer_path, artifact.target_tokenizer_path)
    special = artifact.special_tokens
    specials = [special.pad, special.unk, special.bos, special.eos]
    vocabulary = int(artifact.sizes["tgt_vocab_size"])
    settings = [Setting(0, 0, None, float(vocabulary))]
    for k in (int(x) for x in args.k.split(",")):
        for frequent in (int(x) for x in args.frequent.split(",")):
            shortlist = make_shortlist(counts, k, frequent, specials)
            mean = sum(shortlist.candidates(ids).size for ids in source_ids) / len(source_ids)
            settings.append(Setting(k, frequent, shortlist, mean))

    translator.warm_up()
    for round_ in range(args.rounds):
        for setting in settings:
            translator.model.use_shortlist(setting.shortlist)
            translator.steps = translator.scored = 0
            hypotheses, seconds, tokens = translate_all(translator, sources, args.batch)
            if round_ == 0:
                setting.bleu = sacrebleu.corpus_bleu(hypotheses, [references]).score
                setting.step_candidates = translator.scored / max(1, translator.steps)
            setting.sentences_per_s = max(setting.sentences_per_s, len(sources) / seconds)
            setting.target_tokens_per_s = max(setting.target_tokens_per_s, tokens / seconds)

    full = settings[0].bleu
    print(
        f"Greedy {args.split} BLEU, first {len(sources)} pairs, batch {args.batch}, "
        f"{args.precision}; speed: best of {args.rounds} alternated round(s), valid only on a "
        "quiet machine"
    )
    print("| k | N | candidates / sentence | pieces / step | BLEU | vs full | sentences/s |")
    print("|---|---|---|---|---|---|---|")
    for s in settings:
        name = ("full", "-") if s.shortlist is None else (str(s.k), str(s.frequent))
        print(
            f"| {name[0]} | {name[1]} | {s.mean_candidates:.0f} | {s.step_candidates:.0f} "
            f"| {s.bleu:.2f} | {s.bleu - full:+.2f} | {s.sentences_per_s:.1f} |"
        )
    rates = [
        f"{'full' if s.shortlist is None else f'{s.k}/{s.frequent}'} {s.target_tokens_per_s:.0f}"
        for s in settings
    ]
    ceiling = "full-vocabulary ceiling: ~11,000 at batch 1, 35,000+ at 64"
    print(f"target tokens/s: {', '.join(rates)} ({ceiling})")


if __name__ == "__main__":
    main()
