"""Settings from environment variables prefixed ``NMT_``, validated at start-up."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from service.inference.artifact import ArtifactError, load_artifact

BUNDLED_MODEL = Path("models") / "en-es"
# In a clone (or an editable install) the bundled model sits beside the package; an installed
# wheel does not carry it, so the working directory (a clone's root) is looked at next.
MODEL_DIR_CANDIDATES = (Path(__file__).resolve().parent.parent / BUNDLED_MODEL, BUNDLED_MODEL)
MISSING_MODEL_HINT = (
    "no model directory given and the bundled model was not found at "
    + " or ".join(str(path) for path in MODEL_DIR_CANDIDATES)
    + "; set NMT_MODEL_DIR (or --model-dir) to an artifact directory written by "
    "model_export, such as models/en-es in a clone of the repository, or run from that clone"
)


def default_model_dir() -> Path:
    """The bundled model beside the package, else ``models/en-es`` in the working directory."""
    for candidate in MODEL_DIR_CANDIDATES:
        if (candidate / "model_config.json").is_file():
            return candidate
    return BUNDLED_MODEL


class Settings(BaseSettings):
    """Every option of the service; ``NMT_MODEL_DIR`` sets ``model_dir`` and so on."""

    model_config = SettingsConfigDict(env_prefix="NMT_", frozen=True, extra="ignore")

    # One artifact directory written by model_export; see default_model_dir.
    model_dir: Path = Field(default_factory=default_model_dir)
    # A directory of artifact directories (one per language pair), all served; see
    # artifact_dirs. Unset: the directory holding the bundled model, unless model_dir is set.
    models_dir: Path | None = None
    precision: Literal["fp32", "int8"] = "fp32"
    device: Literal["auto", "cpu", "cuda"] = "auto"  # auto: CUDA when available
    intra_op_threads: int = Field(0, ge=0)  # ONNX Runtime threads; 0 = one per core
    shared_threads: bool = True  # one ONNX Runtime thread pool for all sessions, spinning
    # Decode over the artifact's lexical shortlist when it has one (scores of translations
    # renormalized over the candidates, as in Marian); aligned pairs always score exactly.
    # On: the bundled model's k 50, N 100 keeps dev BLEU within 0.13 (greedy and beam 5)
    # and test beam 5 at 21.86 against 22.08, and decodes 1.25 to 1.3x faster (bench.shortlist).
    shortlist: bool = True

    max_batch_size: int = Field(32, ge=1, le=1024)  # texts encoded together when admitted
    max_batch_rows: int = Field(512, ge=1, le=65536)  # decoder rows in one step
    # Extra wait for company when idle; texts arriving while decoding join at the next step.
    max_wait_ms: float = Field(0.0, ge=0, le=1000)
    # Requests with at most this many rows are light. A text decodes as a block of rows
    # per sentence (its beam), so 24 keeps a beam-5 text of up to four sentences light
    # while a batch of beam-10 texts is heavy.
    light_rows: int = Field(24, ge=1)
    heavy_share: float = Field(0.5, gt=0, le=1)  # time share of heavy steps next to light work
    heavy_step_rows: int = Field(64, ge=1)  # heavy rows in one step
    heavy_admit_texts: int = Field(16, ge=1)  # a heavy request's texts per encoder run
    group_texts: int = Field(16, ge=1)  # only light work: admit and answer this many together
    group_steps: int = Field(8, ge=0)  # ... or after the first has waited this many steps
    max_queue: int = Field(256, ge=1)  # texts queued or running before 503
    retry_after_seconds: int = Field(1, ge=1)

    default_beam_size: int = Field(5, ge=1)
    max_beam_size: int = Field(10, ge=1, le=64)
    max_texts: int = Field(32, ge=1)  # texts per request
    max_chars: int = Field(2000, ge=1)  # characters per text
    max_source_tokens: int = Field(256, ge=2)
    # Translated sentences of more words are cut at clause marks (; : ,); 0: never. 50 was
    # the best of 0 and 15 to 60 on the dev books' paragraphs (bench.documents).
    max_sentence_words: int = Field(50, ge=0)
    max_length_ratio: float = Field(2.0, gt=0)  # output tokens per source token
    length_penalty: float = Field(1.0, ge=0)
    # Links of /v1/translate by default: this model's own ("forward"), or the agreement of
    # both directions when the reverse model is served (it costs a teacher-forced pass).
    # /v1/align always defaults to the agreement where it can.
    translate_links: Literal["forward", "agreement"] = "forward"

    store_path: Path = Path("var/alignments.sqlite3")  # SQLite file, when no Redis URL
    redis_url: str | None = None  # redis://host:6379/0 shares the store across replicas
    store_ttl_seconds: float = Field(7 * 24 * 3600, gt=0)
    store_max_entries: int = Field(100_000, ge=1)
    # Redis socket timeout; a read that takes longer answers 503, a write batch taking 4x
    # longer opens the circuit breaker.
    store_timeout_seconds: float = Field(0.25, gt=0, le=10)
    # Documents waiting to be written (store slow or down); past it new ones are dropped.
    store_buffer_documents: int = Field(4096, ge=1)
    # How long a request may wait for its documents to be written (only while the store
    # is healthy); after that they are answered "pending". 0: never wait.
    store_wait_ms: float = Field(20.0, ge=0, le=1000)

    # Time a client gets to send the request headers, and then the body, before the
    # connection is closed (headers) or answered 408 (body).
    header_timeout_seconds: float = Field(10.0, gt=0, le=600)
    body_timeout_seconds: float = Field(10.0, gt=0, le=600)

    # Rate limits per API key (per client address when keys are off); 0 = no limit.
    rate_limit_requests_per_minute: int = Field(0, ge=0)
    rate_limit_texts_per_minute: int = Field(0, ge=0)
    # Per-key limits overriding those: "key=requests/texts,..." (0 = no limit).
    rate_limit_keys: Annotated[dict[str, tuple[int, int]], NoDecode] = Field(default_factory=dict)

    api_keys: Annotated[frozenset[str], NoDecode] = frozenset()  # comma-separated
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return frozenset(key.strip() for key in value.split(",") if key.strip())
        return value

    @field_validator("rate_limit_keys", mode="before")
    @classmethod
    def _parse_key_limits(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        limits: dict[str, tuple[int, int]] = {}
        for item in filter(None, (part.strip() for part in value.split(","))):
            key, equals, pair = item.partition("=")
            requests, slash, texts = pair.partition("/")
            if not (equals and slash and requests.isdigit() and texts.isdigit() and key.strip()):
                raise ValueError(f"expected key=requests/texts per minute, got {item!r}")
            limits[key.strip()] = (int(requests), int(texts))
        return limits

    @field_validator("redis_url", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if self.max_queue < self.max_texts:
            raise ValueError("max_queue must be at least max_texts, or full requests never fit")
        unknown = set(self.rate_limit_keys) - self.api_keys
        if unknown:
            raise ValueError(
                f"rate_limit_keys names {len(unknown)} key(s) that are not in api_keys"
            )
        if self.default_beam_size > self.max_beam_size:
            raise ValueError("default_beam_size must not exceed max_beam_size")
        if self.models_dir is not None and not self.models_dir.is_dir():
            raise ValueError(f"models_dir: {self.models_dir} is not a directory")
        if self.models_dir is not None and not self.artifact_dirs:
            raise ValueError(f"models_dir: no artifact directory under {self.models_dir}")
        for directory in self.artifact_dirs:
            try:
                load_artifact(directory, self.precision)
            except ArtifactError as error:
                if "model_dir" not in self.model_fields_set and not directory.exists():
                    raise ValueError(MISSING_MODEL_HINT) from error
                raise ValueError(f"model_dir: {error}") from error
        return self

    @property
    def artifact_dirs(self) -> list[Path]:
        """The models to serve: ``model_dir`` alone when it is set; else every artifact
        directory (one holding ``model_config.json``) under ``models_dir``, by name; else
        every one beside the bundled model (``models/en-es``, ``models/es-en``)."""
        if self.models_dir is None and "model_dir" in self.model_fields_set:
            return [self.model_dir]
        parent = self.models_dir if self.models_dir is not None else self.model_dir.parent
        found = sorted(p.parent for p in parent.glob("*/model_config.json"))
        if self.models_dir is None and self.model_dir not in found:
            return [self.model_dir]
        return found
