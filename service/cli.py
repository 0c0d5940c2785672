"""Command line ``bahdanau-serve`` (or ``python -m service``) and its subcommands.

``serve`` runs the HTTP service, ``translate`` prints a translation with its alignment,
``align`` scores and aligns a translation one already has.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from service.config import Settings

if TYPE_CHECKING:
    from service.inference.translation import Translation
    from service.inference.translator import Translator


def _settings(overrides: dict[str, Any]) -> Settings:
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as error:
        lines = [
            f"  {'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in error.errors()
        ]
        sys.exit("invalid configuration (environment variables NMT_*):\n" + "\n".join(lines))


def serve_main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="bahdanau-serve serve", description="Run the translation service."
    )
    parser.add_argument("--host", default=os.environ.get("NMT_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("NMT_PORT", "8000")))
    parser.add_argument("--model-dir", type=Path, help="artifact directory (NMT_MODEL_DIR)")
    parser.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    parser.add_argument(
        "--timeout-graceful-shutdown",
        type=float,
        default=30.0,
        help="seconds in-flight requests get to finish on SIGTERM; those still running "
        "then get 503 with Retry-After",
    )
    parser.add_argument(
        "--proxy-headers",
        action="store_true",
        help="trust X-Forwarded-* headers (behind a load balancer)",
    )
    parser.add_argument("--root-path", default="", help="ASGI root path behind a proxy")
    args = parser.parse_args(argv)

    from service import server
    from service.app import create_app
    from service.logs import configure_logging

    settings = _settings({"model_dir": args.model_dir, "log_level": args.log_level})
    configure_logging(settings.log_level)
    app = create_app(settings)
    server.run(
        app,
        drain=app.state.service.drain,
        grace_seconds=args.timeout_graceful_shutdown,
        header_timeout_seconds=settings.header_timeout_seconds,
        host=args.host,
        port=args.port,
        log_config=None,
        proxy_headers=args.proxy_headers,
        root_path=args.root_path,
    )


def _load_translator(model_dir: Path | None) -> Translator:
    from service.inference.runtime import RuntimeOptions
    from service.inference.translator import Translator

    settings = _settings({"model_dir": model_dir})
    return Translator.from_directory(
        settings.model_dir,
        settings.precision,
        RuntimeOptions(device=settings.device, shortlist=settings.shortlist),
        settings.max_source_tokens,
    )


def _print_links(translation: Translation) -> None:
    """One line per Pharaoh link, with the weight of the matrix it was read from."""
    words = translation.head_words or translation.words
    print(f"links from {translation.pharaoh_source} ({translation.link_rule})")
    for pair in translation.pharaoh.split():
        i, j = map(int, pair.split("-"))
        weight = words.attention[j, i]
        print(f"  {words.source[i]:>16} -> {words.target[j]:<16} {weight:.2f}")


def translate_main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="bahdanau-serve translate", description="Translate text and show its word alignment."
    )
    parser.add_argument("text", nargs="+", help="text to translate")
    parser.add_argument("--beam-size", type=int, default=5)
    parser.add_argument("--model-dir", type=Path, help="artifact directory (NMT_MODEL_DIR)")
    args = parser.parse_args(argv)

    from service.inference.search import SearchOptions

    translator = _load_translator(args.model_dir)
    result = translator.translate([" ".join(args.text)], SearchOptions(beam_size=args.beam_size))
    translation = result[0]
    print(translation.text)
    print(f"score {translation.score:.3f}")
    _print_links(translation)


def align_main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="bahdanau-serve align",
        description="Align a translation you already have: the model's score of it and "
        "its word alignment.",
    )
    parser.add_argument("source", help="source text (quote it)")
    parser.add_argument("target", help="its translation (quote it)")
    parser.add_argument("--model-dir", type=Path, help="artifact directory (NMT_MODEL_DIR)")
    args = parser.parse_args(argv)

    from service.inference.translator import AlignOptions, InputTooLong

    translator = _load_translator(args.model_dir)
    if not args.source.strip() or not args.target.strip():
        sys.exit("source and target must not be empty")
    try:
        (aligned,) = translator.align([(args.source, args.target)], AlignOptions())
    except InputTooLong as error:
        sys.exit(str(error))
    print(f"score {aligned.score:.3f}")
    assert aligned.token_scores is not None
    pieces = " ".join(
        f"{piece}:{score:.2f}"
        for piece, score in zip(aligned.target_tokens, aligned.token_scores, strict=True)
    )
    print(f"pieces {pieces}")
    _print_links(aligned)


# Subcommand name -> its main(argv); each parses its own options.
COMMANDS: dict[str, Callable[[list[str] | None], None]] = {
    "serve": serve_main,
    "translate": translate_main,
    "align": align_main,
}


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    usage = f"usage: bahdanau-serve {{{','.join(COMMANDS)}}} ... (--help after a command)"
    if argv and argv[0] in ("-h", "--help"):
        print(usage)
        return
    if not argv or argv[0] not in COMMANDS:
        sys.exit(usage)
    COMMANDS[argv[0]](argv[1:])
