"""Command line: ``serve`` runs the HTTP service, ``translate`` prints a translation."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from service.config import Settings


def _settings(overrides: dict[str, Any]) -> Settings:
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as error:
        lines = [
            f"  {'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in error.errors()
        ]
        sys.exit("invalid configuration (environment variables NMT_*):\n" + "\n".join(lines))


def serve_main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="serve", description="Run the translation service.")
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


def translate_main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="translate", description="Translate text and show its word alignment."
    )
    parser.add_argument("text", nargs="+", help="text to translate")
    parser.add_argument("--beam-size", type=int, default=5)
    parser.add_argument("--model-dir", type=Path, help="artifact directory (NMT_MODEL_DIR)")
    args = parser.parse_args(argv)

    from service.inference.runtime import RuntimeOptions
    from service.inference.search import SearchOptions
    from service.inference.translator import Translator

    settings = _settings({"model_dir": args.model_dir})
    translator = Translator.from_directory(
        settings.model_dir,
        settings.precision,
        RuntimeOptions(device=settings.device),
        settings.max_source_tokens,
    )
    result = translator.translate([" ".join(args.text)], SearchOptions(beam_size=args.beam_size))
    translation = result[0]
    print(translation.text)
    print(f"score {translation.score:.3f}")
    words = translation.words
    for pair in translation.pharaoh.split():
        i, j = map(int, pair.split("-"))
        weight = words.attention[j, i]
        print(f"  {words.source[i]:>16} -> {words.target[j]:<16} {weight:.2f}")


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    commands = {"serve": serve_main, "translate": translate_main}
    if not argv or argv[0] not in commands:
        sys.exit("usage: python -m service {serve,translate} ...")
    commands[argv[0]](argv[1:])
