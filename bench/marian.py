"""Marian side by side: a Marian ``s2s`` model of this model's sizes, trained on the same
books, decoding the test books in the same run as this service's own decoder.

``train`` trains Marian (through ``pymarian``, the optional ``marian`` extra) on the data
directory's train split with the artifact's SentencePiece models as its vocabularies:
embeddings 256, GRU states 256, a bidirectional GRU encoder, a GRU decoder with attention,
no tied embeddings, dropout 0.3, Adam at 1e-3 over 2,500-word batches on two CPU threads,
stopped after ``--minutes`` (SIGTERM, which Marian answers by saving the model). It also
writes Marian's lexical shortlist, in Marian's text format, from the same piece counts the
artifact's own shortlist is built from (eflomal's links on the train split).

``compare`` decodes the first ``--limit`` pairs of ``--split`` with both, alternating, in
process, at batch 1 and at batch 32, greedy and beam 5: fp32 against fp32, then Marian's
int8 (FBGEMM's packed int8 products, quantized when the model loads: ``--gemm-type
packed8``) with its shortlist against this service's int8 with its shortlist (Marian's
other int8 path, a model converted to ``intgemm8``, decodes this s2s model into garbage).
Each row prints target tokens per second (SentencePiece pieces of the output plus EOS,
counted with the same target model for both), the ratio, and each side's BLEU; training
time heads the table.

    python -m bench.marian train --data work/data --work work/marian --minutes 30
    python -m bench.marian compare --data work/data --work work/marian
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sacrebleu
import sentencepiece as spm

from model_export.corpus import read_tsv
from model_export.shortlist import count_corpus
from service.inference.runtime import RuntimeOptions
from service.inference.search import SearchOptions
from service.inference.translator import Translator

MARIAN_MODEL = "model.npz"
LEXICON = "lex.s2t"
SHORTLIST_FIRST, SHORTLIST_BEST = 100, 50  # as the artifact's: N = 100 frequent, k = 50


def marian(command: str, *options: str) -> list[str]:
    """The command line of Marian's ``command`` (train, decode, convert) in a subprocess."""
    code = "import sys, _pymarian; _pymarian.main(sys.argv[1:])"
    return [sys.executable, "-c", code, command, *options]


def training_options(work: Path, threads: int, seed: int) -> list[str]:
    return [
        "--type", "s2s",
        "--model", str(work / MARIAN_MODEL),
        "--train-sets", str(work / "train.src"), str(work / "train.tgt"),
        "--vocabs", str(work / "source.spm"), str(work / "target.spm"),
        "--dim-emb", "256", "--dim-rnn", "256",
        "--enc-type", "bidirectional", "--enc-cell", "gru", "--enc-depth", "1",
        "--dec-cell", "gru", "--dec-depth", "1",
        "--dropout-rnn", "0.3", "--dropout-src", "0.0", "--dropout-trg", "0.0",
        "--label-smoothing", "0.1",
        "--mini-batch-words", "2500", "--max-length", "100",
        "--learn-rate", "0.001", "--clip-norm", "1",
        "--cpu-threads", str(threads), "--workspace", "4000",
        "--seed", str(seed),
        "--save-freq", "1000000u", "--disp-freq", "200u", "--overwrite",
        "--sigterm", "save-and-exit",
        "--log", str(work / "train.log"), "--quiet",
    ]  # fmt: skip


def write_lexicon(data: Path, model: Path, path: Path) -> int:
    """Marian's text shortlist ("target source p(target|source)" per line, over pieces) from
    the piece link counts of the train split; returns the number of entries."""
    counts = count_corpus(data, model / "source.spm", model / "target.spm")
    source, target, probability = counts.probabilities()
    source_sp = spm.SentencePieceProcessor(model_file=str(model / "source.spm"))
    target_sp = spm.SentencePieceProcessor(model_file=str(model / "target.spm"))
    with path.open("w", encoding="utf-8") as out:
        for s, t, p in zip(source.tolist(), target.tolist(), probability.tolist(), strict=True):
            out.write(f"{target_sp.id_to_piece(t)} {source_sp.id_to_piece(s)} {p:.6g}\n")
    return int(source.size)


def train(args: argparse.Namespace) -> None:
    work: Path = args.work
    work.mkdir(parents=True, exist_ok=True)
    pairs = read_tsv(args.data / "train.tsv")
    (work / "train.src").write_text("".join(p.source + "\n" for p in pairs), encoding="utf-8")
    (work / "train.tgt").write_text("".join(p.target + "\n" for p in pairs), encoding="utf-8")
    for side in ("source", "target"):
        shutil.copyfile(args.model / f"{side}.spm", work / f"{side}.spm")
    entries = write_lexicon(args.data, args.model, work / LEXICON)
    print(f"{len(pairs)} training pairs; Marian shortlist: {entries} piece pairs", flush=True)

    start = time.monotonic()
    process = subprocess.Popen(marian("train", *training_options(work, args.threads, args.seed)))
    try:
        process.wait(timeout=args.minutes * 60)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGTERM)  # Marian saves the model, then exits
        process.wait()
    seconds = time.monotonic() - start
    if not (work / MARIAN_MODEL).exists():
        raise SystemExit(f"Marian saved no model (exit {process.returncode}); see train.log")
    (work / "train.json").write_text(json.dumps({"seconds": seconds, "threads": args.threads}))
    print(f"Marian trained for {seconds / 60:.1f} min; model in {work}")


@dataclass
class Run:
    """One decode of the sentences: outputs, seconds and target tokens."""

    outputs: list[str]
    seconds: float
    tokens: int


def timed(
    translate: Callable[[list[str]], list[str]],
    sources: list[str],
    target_sp: spm.SentencePieceProcessor,
) -> Run:
    start = time.perf_counter()
    outputs = translate(sources)
    seconds = time.perf_counter() - start
    tokens = sum(len(target_sp.encode(o)) + 1 for o in outputs)  # + EOS, as the service counts
    return Run(outputs, seconds, tokens)


class MarianSide:
    """pymarian's in-process Translator, one per (model, beam, batch) setting. It is given
    all the sentences at once and decodes mini-batches of ``batch`` on ``threads`` workers
    in parallel (Marian's way of using several cores: each worker is single-threaded)."""

    def __init__(self, work: Path, threads: int) -> None:
        self.work = work
        self.threads = threads
        self._translators: dict[tuple[bool, int, int], Any] = {}

    def translator(self, quantized: bool, beam: int, batch: int) -> Any:
        import pymarian

        key = (quantized, beam, batch)
        if key not in self._translators:
            options: dict[str, Any] = {
                "models": str(self.work / MARIAN_MODEL),
                "vocabs": [str(self.work / "source.spm"), str(self.work / "target.spm")],
                "beam_size": beam,
                "normalize": 1.0,  # the service's length penalty 1: mean log-probability
                "max_length_factor": 2.0,
                "mini_batch": batch,
                "maxi_batch": 100 if batch > 1 else 1,
                "maxi_batch_sort": "src" if batch > 1 else "none",
                "cpu_threads": self.threads,
                "workspace": 2000,
                "quiet": True,
                "quiet_translation": True,
            }
            if quantized:
                options["gemm_type"] = "packed8"
                options["shortlist"] = [
                    str(self.work / LEXICON), str(SHORTLIST_FIRST), str(SHORTLIST_BEST)
                ]  # fmt: skip
            self._translators[key] = pymarian.Translator(**options)
        return self._translators[key]

    def decode(self, quantized: bool, beam: int, batch: int) -> Callable[[list[str]], list[str]]:
        translator = self.translator(quantized, beam, batch)

        def translate(lines: list[str]) -> list[str]:
            return list(translator.translate(lines))

        return translate


class ServiceSide:
    """This service's in-process Translator: fp32 on the full vocabulary, int8 with the
    artifact's shortlist. It is given ``batch`` sentences at a time, each batch decoded on
    ``threads`` intra-op threads (ONNX Runtime's way of using several cores)."""

    def __init__(self, model: Path, threads: int) -> None:
        self.translators = {
            False: Translator.from_directory(
                model, "fp32", RuntimeOptions(device="cpu", intra_op_threads=threads)
            ),
            True: Translator.from_directory(
                model,
                "int8",
                RuntimeOptions(device="cpu", intra_op_threads=threads, shortlist=True),
            ),
        }
        for translator in self.translators.values():
            translator.warm_up()

    def decode(self, quantized: bool, beam: int, batch: int) -> Callable[[list[str]], list[str]]:
        translator = self.translators[quantized]
        options = SearchOptions(beam_size=beam)

        def translate(lines: list[str]) -> list[str]:
            return [
                t.text
                for first in range(0, len(lines), batch)
                for t in translator.translate(lines[first : first + batch], options)
            ]

        return translate


def compare(args: argparse.Namespace) -> None:
    pairs = read_tsv(args.data / f"{args.split}.tsv")[: args.limit or None]
    sources, references = [p.source for p in pairs], [p.target for p in pairs]
    target_sp = spm.SentencePieceProcessor(model_file=str(args.model / "target.spm"))
    config = json.loads((args.model / "model_config.json").read_text())
    if config.get("shortlist") is None:
        raise SystemExit(f"{args.model}: no shortlist; run `make shortlist MODEL=...` first")
    ours, theirs = ServiceSide(args.model, args.threads), MarianSide(args.work, args.threads)
    trained = json.loads((args.work / "train.json").read_text())
    print(
        f"Training: this model {config['training']['seconds'] / 60:.0f} min "
        f"({config['training']['epochs']} epochs, then alignment fine-tuning and head), "
        f"Marian {trained['seconds'] / 60:.0f} min, both on {trained['threads']} threads. "
        f"Decoding the first {len(sources)} {args.split} pairs in process, "
        f"{args.threads} threads, best of {args.rounds} alternated round(s)."
    )
    print(
        "| setting | beam | batch | this service tokens/s | Marian tokens/s | ratio "
        "| BLEU this | BLEU Marian |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for quantized in (False, True):
        for beam in (1, 5):
            for batch in (1, 32):
                best: dict[str, Run] = {}
                for _ in range(args.rounds):
                    for name, side in (("ours", ours), ("marian", theirs)):
                        run = timed(side.decode(quantized, beam, batch), sources, target_sp)
                        if name not in best or run.seconds < best[name].seconds:
                            best[name] = run
                rate = {n: r.tokens / r.seconds for n, r in best.items()}
                bleu = {
                    n: sacrebleu.corpus_bleu(r.outputs, [references]).score for n, r in best.items()
                }
                setting = "int8 + shortlist" if quantized else "fp32, full vocabulary"
                print(
                    f"| {setting} | {beam} | {batch} | {rate['ours']:,.0f} "
                    f"| {rate['marian']:,.0f} | {rate['ours'] / rate['marian']:.2f}x "
                    f"| {bleu['ours']:.2f} | {bleu['marian']:.2f} |",
                    flush=True,
                )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("train", "compare"):
        command = commands.add_parser(name)
        command.add_argument("--data", type=Path, required=True, help="prepared, word-aligned")
        command.add_argument("--model", type=Path, default=Path("models/en-es"))
        command.add_argument("--work", type=Path, required=True, help="Marian's directory")
        command.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    commands.choices["train"].add_argument("--minutes", type=float, default=30.0)
    commands.choices["train"].add_argument("--seed", type=int, default=1234)
    commands.choices["compare"].add_argument("--split", default="test")
    commands.choices["compare"].add_argument("--limit", type=int, default=0, help="0: all")
    commands.choices["compare"].add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    train(args) if args.command == "train" else compare(args)


if __name__ == "__main__":
    main()
