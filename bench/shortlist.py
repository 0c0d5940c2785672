"""Dev BLEU and speed of fp32 and int8, each with the full vocabulary and with lexical
shortlists of several sizes.

For each (k, N), the shortlist is built from the data directory's word-aligned training
split with the artifact's tokenizers (as ``python -m model_export shortlist`` builds it),
and the dev sentences are translated ``--batch`` at a time with each beam size of
``--beams``: a step scores the union of its sentences' candidates, so a larger batch scores
more pieces. Prints, per precision and (k, N), the mean candidates per sentence and per
step, BLEU and its difference from the first precision's full vocabulary, and sentences/s
with its ratio to that setting. The speed columns mean something only on a quiet machine,
with the settings alternated over rounds (the fastest round of each is kept); BLEU does not
depend on the machine.

    python -m bench.shortlist --model models/en-es --data work/data --limit 200 --beams 1,5
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field
from pathlib import Path

import sacrebleu

from model_export.corpus import read_tsv
from model_export.shortlist import count_corpus, make_shortlist
from service.inference.artifact import load_artifact
from service.inference.runtime import RuntimeOptions
from service.inference.search import SearchOptions
from service.inference.shortlist import Shortlist
from service.inference.step import Decoding
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
    precision: str
    k: int  # 0: the full vocabulary
    frequent: int
    shortlist: Shortlist | None
    mean_candidates: float  # per sentence
    bleu: dict[int, float] = field(default_factory=dict)  # by beam size
    step_candidates: float = 0.0
    sentences_per_s: dict[int, float] = field(default_factory=dict)
    target_tokens_per_s: dict[int, float] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return "full" if self.shortlist is None else f"{self.k}/{self.frequent}"


def translate_all(
    translator: CountingTranslator, sources: list[str], batch: int, beam: int
) -> tuple[list[str], float, int]:
    """Hypotheses, seconds and target tokens of a pass over ``sources``."""
    options = SearchOptions(beam_size=beam)
    hypotheses: list[str] = []
    tokens = 0
    start = time.perf_counter()
    for first in range(0, len(sources), batch):
        for translation in translator.translate(sources[first : first + batch], options):
            hypotheses.append(translation.text)
            tokens += len(translation.target_tokens)
    return hypotheses, time.perf_counter() - start, tokens


def load_translator(model: Path, precision: str, threads: int) -> CountingTranslator:
    base = Translator.from_directory(
        model, precision, RuntimeOptions(device="cpu", intra_op_threads=threads, shortlist=True)
    )
    translator = CountingTranslator(
        base.artifact, base.model, base.tokenizer, base.max_source_tokens
    )
    translator.warm_up()
    return translator


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
    parser.add_argument("--precision", default="fp32,int8", help="fp32, int8 or both")
    parser.add_argument("--beams", default="1", help="beam sizes, e.g. 1,5")
    args = parser.parse_args()

    precisions = args.precision.split(",")
    beams = [int(b) for b in args.beams.split(",")]
    artifact = load_artifact(args.model, precisions[0])
    if artifact.shortlist_path is None:
        raise SystemExit(f"{args.model}: no shortlist; run `make shortlist MODEL=...` first")
    translators = {p: load_translator(args.model, p, args.threads) for p in precisions}
    pairs = read_tsv(args.data / f"{args.split}.tsv")[: args.limit or None]
    sources, references = [p.source for p in pairs], [p.target for p in pairs]
    source_ids = [s.ids for s in translators[precisions[0]].encode_sources(sources)]
    counts = count_corpus(args.data, artifact.source_tokenizer_path, artifact.target_tokenizer_path)
    special = artifact.special_tokens
    specials = [special.pad, special.unk, special.bos, special.eos]
    vocabulary = int(artifact.sizes["tgt_vocab_size"])
    shortlists: list[tuple[int, int, Shortlist | None, float]] = [(0, 0, None, vocabulary)]
    for k in (int(x) for x in args.k.split(",")):
        for frequent in (int(x) for x in args.frequent.split(",")):
            shortlist = make_shortlist(counts, k, frequent, specials)
            mean = sum(shortlist.candidates(ids).size for ids in source_ids) / len(source_ids)
            shortlists.append((k, frequent, shortlist, mean))
    settings = [Setting(p, *entry) for p in precisions for entry in shortlists]

    for round_ in range(args.rounds):
        for beam in beams:
            for setting in settings:
                translator = translators[setting.precision]
                translator.model.use_shortlist(setting.shortlist)
                translator.steps = translator.scored = 0
                hypotheses, seconds, tokens = translate_all(translator, sources, args.batch, beam)
                if round_ == 0:
                    setting.bleu[beam] = sacrebleu.corpus_bleu(hypotheses, [references]).score
                    if beam == beams[0]:
                        setting.step_candidates = translator.scored / max(1, translator.steps)
                rate = len(sources) / seconds
                setting.sentences_per_s[beam] = max(setting.sentences_per_s.get(beam, 0), rate)
                setting.target_tokens_per_s[beam] = max(
                    setting.target_tokens_per_s.get(beam, 0), tokens / seconds
                )

    reference = settings[0]
    print(
        f"{args.split} BLEU, first {len(sources)} pairs, batch {args.batch}; speed: best of "
        f"{args.rounds} alternated round(s), valid only on a quiet machine; against "
        f"{reference.precision} with the full vocabulary"
    )
    columns = " | ".join(f"BLEU beam {b} | vs full | sentences/s beam {b}" for b in beams)
    print(
        f"| precision | k/N | candidates / sentence | pieces / step (beam {beams[0]}) | {columns} |"
    )
    print("|---" * (4 + 3 * len(beams)) + "|")
    for s in settings:
        cells = " | ".join(
            f"{s.bleu[b]:.2f} | {s.bleu[b] - reference.bleu[b]:+.2f} | {s.sentences_per_s[b]:.1f} "
            f"({s.sentences_per_s[b] / reference.sentences_per_s[b]:.2f}x)"
            for b in beams
        )
        print(
            f"| {s.precision} | {s.name} | {s.mean_candidates:.0f} | {s.step_candidates:.0f} "
            f"| {cells} |"
        )
    for beam in beams:
        rates = [f"{s.precision} {s.name} {s.target_tokens_per_s[beam]:.0f}" for s in settings]
        print(f"target tokens/s, beam {beam}: {', '.join(rates)}")


if __name__ == "__main__":
    main()
