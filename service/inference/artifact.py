"""The model artifact directory: ONNX graphs, SentencePiece models and ``model_config.json``.

``model_config.json`` is the only source of sizes, special-token ids and metadata.
Loading checks every file it names and reports the one that is missing or broken.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SUPPORTED_FORMAT_VERSIONS = (1,)
PRECISIONS = ("fp32", "int8")


class ArtifactError(ValueError):
    """The model directory is missing a file or a file is malformed."""


@dataclass(frozen=True)
class SpecialTokens:
    pad: int
    unk: int
    bos: int
    eos: int


@dataclass(frozen=True)
class ModelArtifact:
    directory: Path
    config: dict[str, Any]
    encoder_path: Path
    decoder_step_path: Path
    source_tokenizer_path: Path
    target_tokenizer_path: Path
    special_tokens: SpecialTokens
    precision: str
    alignment_head_path: Path | None = None  # the word-alignment head graph, if the model has one
    # The decoder step over candidate pieces, and the lexical shortlist giving them; decoding
    # uses the shortlist only when the artifact has both.
    decoder_step_shortlist_path: Path | None = None
    shortlist_path: Path | None = None

    @property
    def source_lang(self) -> str:
        return str(self.config.get("source_lang", ""))

    @property
    def target_lang(self) -> str:
        return str(self.config.get("target_lang", ""))

    @property
    def name(self) -> str:
        return str(self.config.get("name", self.directory.name))

    @property
    def version(self) -> str:
        return str(self.config.get("version", "0"))

    @property
    def sizes(self) -> dict[str, Any]:
        return dict(self.config["model"])


def _require_file(directory: Path, relative: object, what: str) -> Path:
    if not isinstance(relative, str) or not relative:
        raise ArtifactError(f"{directory / 'model_config.json'}: '{what}' must name a file")
    path = directory / relative
    if not path.is_file():
        raise ArtifactError(f"{path}: {what} file not found")
    return path


def load_artifact(directory: Path, precision: str = "fp32") -> ModelArtifact:
    """Read and validate an artifact directory."""
    if precision not in PRECISIONS:
        raise ArtifactError(f"precision must be one of {PRECISIONS}, not {precision!r}")
    config_path = directory / "model_config.json"
    if not directory.is_dir():
        raise ArtifactError(f"{directory}: model directory not found")
    if not config_path.is_file():
        raise ArtifactError(f"{config_path}: not found")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ArtifactError(f"{config_path}: not valid JSON ({error})") from error
    if not isinstance(config, dict):
        raise ArtifactError(f"{config_path}: expected a JSON object")
    version = config.get("format_version")
    if version not in SUPPORTED_FORMAT_VERSIONS:
        raise ArtifactError(
            f"{config_path}: format_version {version!r} is not supported "
            f"(supported: {SUPPORTED_FORMAT_VERSIONS})"
        )
    try:
        special = SpecialTokens(
            **{k: int(config["special_tokens"][k]) for k in ("pad", "unk", "bos", "eos")}
        )
        if not isinstance(config["model"], dict):
            raise TypeError("'model' must be an object")
    except (KeyError, TypeError, ValueError) as error:
        raise ArtifactError(f"{config_path}: missing or invalid field ({error})") from error
    graphs = config if precision == "fp32" else config.get("int8", {})
    shortlist = config.get("shortlist")
    if shortlist is not None and not isinstance(shortlist, dict):
        raise ArtifactError(f"{config_path}: 'shortlist' must be an object")
    return ModelArtifact(
        directory=directory,
        config=config,
        encoder_path=_require_file(directory, graphs.get("encoder"), f"{precision} encoder"),
        decoder_step_path=_require_file(
            directory, graphs.get("decoder_step"), f"{precision} decoder_step"
        ),
        source_tokenizer_path=_require_file(
            directory, config.get("source_tokenizer"), "source_tokenizer"
        ),
        target_tokenizer_path=_require_file(
            directory, config.get("target_tokenizer"), "target_tokenizer"
        ),
        special_tokens=special,
        precision=precision,
        alignment_head_path=(
            _require_file(directory, config["alignment_head"], "alignment_head")
            if "alignment_head" in config
            else None
        ),
        decoder_step_shortlist_path=(
            _require_file(
                directory,
                graphs["decoder_step_shortlist"],
                f"{precision} decoder_step_shortlist",
            )
            if "decoder_step_shortlist" in graphs
            else None
        ),
        shortlist_path=(
            _require_file(directory, shortlist.get("file"), "shortlist")
            if shortlist is not None
            else None
        ),
    )
