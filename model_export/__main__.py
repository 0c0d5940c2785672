"""Command line of the training pipeline: prepare, word-align, train, export, shortlist,
evaluate."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from model_export import corpus
from model_export.word_alignment import MASKED_TARGETS


def _prepare(args: argparse.Namespace) -> None:
    from model_export.dataset import prepare

    if args.source_file and not args.target_file:
        raise SystemExit("--source-file needs --target-file")
    if args.tsv or args.source_file:
        pairs = (
            corpus.read_tsv(args.tsv)
            if args.tsv
            else corpus.read_parallel_files(args.source_file, args.target_file)
        )
        splits = corpus.split_by_hash(pairs)
        description = {
            "name": (args.tsv or args.source_file).name,
            "source_lang": args.source_lang,
            "target_lang": args.target_lang,
            "split": "hash of the source, 5%/5%",
        }
    else:
        splits = corpus.split_bible(args.sword_path)
        description = {
            "name": f"Bible: {corpus.SOURCE_MODULE} (World English Bible) / "
            f"{corpus.TARGET_MODULE} (Reina-Valera 1909), verse-aligned",
            "source_lang": "en",
            "target_lang": "es",
            "license": "public domain",
            "split": "by book",
            "test_books": sorted(corpus.TEST_BOOKS),
            "dev_books": sorted(corpus.DEV_BOOKS),
        }
    if args.reverse:
        splits = corpus.reverse_splits(splits)
        description["source_lang"], description["target_lang"] = (
            description["target_lang"],
            description["source_lang"],
        )
        description["direction"] = "reversed: the corpus's target side is the source"
    prepare(splits, args.out, args.vocab_size, description)
    print({name: len(pairs) for name, pairs in splits.items()})


def _train(args: argparse.Namespace) -> None:
    from model_export.dataset import ParallelData
    from model_export.model import ModelConfig
    from model_export.train import TrainConfig, train

    data = ParallelData.load(args.data)
    model_config = ModelConfig(
        data.source_vocab_size,
        data.target_vocab_size,
        embedding_size=args.embedding_size,
        encoder_hidden_size=args.hidden_size,
        decoder_hidden_size=args.hidden_size,
        attention_size=args.hidden_size,
        output_size=args.embedding_size,
        dropout=args.dropout,
        alignment_head=args.alignment_head,
    )
    config = TrainConfig(
        epochs=args.epochs,
        batch_tokens=args.batch_tokens,
        learning_rate=args.learning_rate,
        patience=args.patience,
        seed=args.seed,
        threads=args.threads,
        max_minutes=args.max_minutes,
        dev_limit=args.dev_limit,
        guided_alignment=args.guided_alignment,
        head_weight=args.head_weight,
        freeze_model=args.freeze_model,
    )
    print(
        train(
            args.data,
            args.run,
            model_config,
            config,
            attention=not args.no_attention,
            init_checkpoint=args.init,
        )
    )


def _word_align(args: argparse.Namespace) -> None:
    from model_export.word_alignment import align_corpus

    print(align_corpus(args.data))


def _export(args: argparse.Namespace) -> None:
    from model_export.export import write_artifact
    from model_export.parity import check_parity
    from model_export.train import load_model
    from model_export.training_records import training_stages

    model, checkpoint = load_model(args.checkpoint)
    data_dir = Path(str(checkpoint["data_dir"])) if args.data is None else args.data
    description = json.loads((data_dir / "corpus.json").read_text())
    metadata = {
        "name": args.name,
        "version": args.version,
        "source_lang": description.get("source_lang"),
        "target_lang": description.get("target_lang"),
        "training_data": description,
    }
    metadata.update(training_stages(checkpoint))
    write_artifact(model, data_dir, args.out, metadata)
    report = check_parity(model, args.out)
    print(json.dumps(report.__dict__ | {"ok": report.ok}))
    if not report.ok:
        raise SystemExit("parity check failed")


def _export_head(args: argparse.Namespace) -> None:
    from model_export.self_training import install_head

    print(json.dumps(install_head(args.checkpoint, args.model)))


def _shortlist(args: argparse.Namespace) -> None:
    from model_export.export import rebuild_torch_model
    from model_export.parity import check_parity
    from model_export.shortlist import install_shortlist

    shortlist = install_shortlist(args.model, args.data, args.k, args.frequent)
    sources = shortlist.indptr.size - 1
    print(
        json.dumps(
            {
                "source_pieces": sources,
                "mean_candidates_per_source_piece": round(shortlist.indices.size / sources, 2),
                "always": int(shortlist.always.size),
            }
        )
    )
    report = check_parity(rebuild_torch_model(args.model), args.model)
    print(json.dumps(report.__dict__ | {"ok": report.ok}))
    if not report.ok:
        raise SystemExit("parity check failed")


def _evaluate(args: argparse.Namespace) -> None:
    from model_export.corpus import read_tsv
    from model_export.evaluate import (
        evaluate,
        evaluate_alignment,
        record_link_rules,
        update_config_scores,
    )
    from model_export.export import write_artifact
    from model_export.model_card import read_log, write_model_card
    from model_export.train import load_model

    test_pairs = read_tsv(args.data / "test.tsv")[: args.limit or None]
    baseline_dir = None
    if args.baseline_checkpoint:
        baseline, _ = load_model(args.baseline_checkpoint)
        baseline_dir = args.baseline_checkpoint.parent / "artifact"
        write_artifact(baseline, args.data, baseline_dir, {"name": "rnnenc-baseline"})
    previous_path = args.model / "evaluation.json"
    previous = json.loads(previous_path.read_text()) if previous_path.exists() else {}
    report = evaluate(args.model, test_pairs, baseline_dir, threads=args.threads)
    if baseline_dir is None and "baseline_test" in previous:
        # The baseline is not retrained with every model: keep its last measured scores.
        report["baseline_test"] = {
            **previous["baseline_test"],
            "note": previous["baseline_test"].get(
                "note", "measured with an earlier evaluation; not re-run"
            ),
        }
    alignment = evaluate_alignment(args.model, args.data, threads=args.threads)
    if alignment is not None:
        report["alignment"] = alignment
        record_link_rules(args.model, alignment["links"])
        if args.backward:
            from model_export.agreement import agreement, chosen_agreement

            alignment["agreement"] = {
                split: agreement(args.model, args.backward, args.data, split, threads=args.threads)
                for split in ("dev", "test")
            }
            chosen = chosen_agreement(alignment["agreement"]["dev"])
            record_link_rules(args.model, {**alignment["links"], "agreement": chosen})
    if args.training_hardware:
        report["training_hardware"] = args.training_hardware
    update_config_scores(args.model, report)
    baseline_run = args.baseline_checkpoint.parent if args.baseline_checkpoint else None
    # The curves are kept from the last evaluation when the run directories are not here.
    training_log = read_log(args.run) or previous.get("training_log", [])
    baseline_log = read_log(baseline_run) or previous.get("baseline_log", [])
    report.update(training_log=training_log, baseline_log=baseline_log)
    (args.model / "evaluation.json").write_text(json.dumps(report, indent=2) + "\n")
    card = write_model_card(args.model, report, training_log, baseline_log)
    print(json.dumps(report["test"], indent=2))
    print(f"wrote {card}")


def _agreement(args: argparse.Namespace) -> None:
    from model_export.agreement import agreement, format_table

    report = agreement(
        args.forward, args.backward, args.data, args.split, args.limit, threads=args.threads
    )
    print(format_table(report))
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n")


def _agreement_data(args: argparse.Namespace) -> None:
    from model_export.self_training import write_agreement_data

    report = write_agreement_data(
        args.forward, args.backward, args.data, args.out, args.method, args.threshold, args.threads
    )
    print(json.dumps(report))


def _masked_data(args: argparse.Namespace) -> None:
    from model_export.self_training import write_masked_data

    print(json.dumps(write_masked_data(args.data, args.out, args.targets)))


def _both_directions(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--forward", type=Path, required=True, help="source->target artifact")
    parser.add_argument("--backward", type=Path, required=True, help="target->source artifact")
    parser.add_argument("--data", type=Path, required=True, help="prepared data with .align files")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m model_export", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    prep = commands.add_parser("prepare", help="split a corpus and train SentencePiece models")
    prep.add_argument("--out", type=Path, required=True, help="data directory to write")
    prep.add_argument("--tsv", type=Path, help="own corpus: source<TAB>target per line")
    prep.add_argument("--source-file", type=Path, help="own corpus: source side, one per line")
    prep.add_argument("--target-file", type=Path, help="own corpus: target side, line-aligned")
    prep.add_argument("--source-lang", default="en")
    prep.add_argument("--target-lang", default="es")
    prep.add_argument("--sword-path", type=Path, default=corpus.SWORD_PATH)
    prep.add_argument("--vocab-size", type=int, default=8000)
    prep.add_argument(
        "--reverse",
        action="store_true",
        help="swap the two sides: the Bible's Spanish to English, or a corpus's target to source",
    )
    prep.set_defaults(func=_prepare)

    tr = commands.add_parser("train", help="train (or resume) a model")
    tr.add_argument("--data", type=Path, required=True, help="directory written by prepare")
    tr.add_argument("--run", type=Path, required=True, help="run directory for checkpoints")
    tr.add_argument("--no-attention", action="store_true", help="the RNNenc baseline")
    tr.add_argument("--embedding-size", type=int, default=256)
    tr.add_argument("--hidden-size", type=int, default=256)
    tr.add_argument("--dropout", type=float, default=0.3)
    tr.add_argument("--epochs", type=int, default=30)
    tr.add_argument("--batch-tokens", type=int, default=2500)
    tr.add_argument("--learning-rate", type=float, default=2e-3)
    tr.add_argument("--patience", type=int, default=4)
    tr.add_argument("--seed", type=int, default=1234)
    tr.add_argument("--threads", type=int, default=2)
    tr.add_argument("--max-minutes", type=float, default=0.0, help="time budget; 0 = none")
    tr.add_argument("--dev-limit", type=int, default=0, help="dev pairs decoded for BLEU")
    tr.add_argument(
        "--alignment-head",
        action="store_true",
        help="add a word-alignment head trained on the word-align step's links",
    )
    tr.add_argument(
        "--guided-alignment",
        type=float,
        default=0.0,
        metavar="WEIGHT",
        help="guide alpha towards the word aligner's links with this weight (0.1 to 1.0)",
    )
    tr.add_argument("--head-weight", type=float, default=1.0, help="alignment head loss weight")
    tr.add_argument(
        "--init",
        type=Path,
        help="start a new run from this checkpoint's weights (or an artifact directory's)",
    )
    tr.add_argument(
        "--freeze-model",
        action="store_true",
        help="train only the alignment head on the frozen weights given by --init",
    )
    tr.set_defaults(func=_train)

    wa = commands.add_parser(
        "word-align",
        help="word-align the prepared corpus with eflomal (supervision for the alignment head)",
    )
    wa.add_argument("--data", type=Path, required=True, help="directory written by prepare")
    wa.set_defaults(func=_word_align)

    ex = commands.add_parser("export", help="export a checkpoint to an ONNX artifact directory")
    ex.add_argument("--checkpoint", type=Path, required=True, help="e.g. RUN/best.pt")
    ex.add_argument("--out", type=Path, required=True, help="artifact directory to write")
    ex.add_argument("--data", type=Path, help="prepared data (default: the checkpoint's)")
    ex.add_argument("--name", default="bahdanau-en-es")
    ex.add_argument("--version", default="1")
    ex.set_defaults(func=_export)

    eh = commands.add_parser(
        "export-head",
        help="put a retrained alignment head (a --freeze-model run) into its artifact",
    )
    eh.add_argument("--checkpoint", type=Path, required=True, help="the head run's best.pt")
    eh.add_argument("--model", type=Path, required=True, help="artifact directory to update")
    eh.set_defaults(func=_export_head)

    sl = commands.add_parser(
        "shortlist",
        help="write a lexical shortlist into an artifact from the word aligner's links",
    )
    sl.add_argument("--data", type=Path, required=True, help="prepared, word-aligned data")
    sl.add_argument("--model", type=Path, required=True, help="artifact directory")
    sl.add_argument("--k", type=int, default=50, help="target pieces per source piece")
    sl.add_argument("--frequent", type=int, default=200, help="most frequent pieces, always")
    sl.set_defaults(func=_shortlist)

    ev = commands.add_parser("evaluate", help="score an artifact and write its model card")
    ev.add_argument("--model", type=Path, required=True, help="artifact directory")
    ev.add_argument("--data", type=Path, required=True, help="prepared data (test.tsv)")
    ev.add_argument("--run", type=Path, help="run directory of the model, for its curve")
    ev.add_argument("--baseline-checkpoint", type=Path, help="RNNenc checkpoint to compare")
    ev.add_argument("--limit", type=int, default=0, help="first N test pairs only")
    ev.add_argument("--threads", type=int, default=0, help="ONNX Runtime threads")
    ev.add_argument("--training-hardware", help="where the model was trained")
    ev.add_argument(
        "--backward",
        type=Path,
        help="the reverse direction's artifact: also score the links of both, symmetrized",
    )
    ev.set_defaults(func=_evaluate)

    ag = commands.add_parser(
        "agreement",
        help="score links from both directions' models (symmetrized) against eflomal's",
    )
    _both_directions(ag)
    ag.add_argument("--split", default="dev", help="dev or test")
    ag.add_argument("--limit", type=int, default=0, help="first N pairs only")
    ag.add_argument("--threads", type=int, default=0, help="ONNX Runtime threads")
    ag.add_argument("--out", type=Path, help="also write the report as JSON here")
    ag.set_defaults(func=_agreement)

    ad = commands.add_parser(
        "agreement-data",
        help="a data directory whose training links are both models' links by agreement "
        "(a round of self-training of the alignment head)",
    )
    _both_directions(ad)
    ad.add_argument("--out", type=Path, required=True, help="data directory to write")
    ad.add_argument("--method", default="product", help="symmetrization (see agreement)")
    ad.add_argument("--threshold", type=float, default=0.4)
    ad.add_argument("--threads", type=int, default=0, help="ONNX Runtime threads")
    ad.set_defaults(func=_agreement_data)

    md = commands.add_parser(
        "masked-data",
        help="a data directory whose training links are the intersection (or "
        "grow-diag-final-and) of the aligner's two directions, the rest of their union "
        "masked out of the alignment losses",
    )
    md.add_argument("--data", type=Path, required=True, help="prepared data (eflomal.fwd)")
    md.add_argument("--out", type=Path, required=True, help="data directory to write")
    md.add_argument("--targets", choices=MASKED_TARGETS, default="intersection")
    md.set_defaults(func=_masked_data)
    return parser


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    args = build_parser().parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
