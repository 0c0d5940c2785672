"""Request and response bodies of the HTTP API (they make the OpenAPI page at /docs)."""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

ALLOWED_CONTROLS = {"\t", "\n", "\r"}
MAX_CANDIDATES = 10


def _integral(value: Any) -> Any:
    """5.0 as 5: JSON Schema counts a number with no fraction as an integer, and the request
    models are strict (no "5", no 5.5), so a client generated from the schema may send it."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


JsonInt = Annotated[int, BeforeValidator(_integral)]


def check_text(text: str) -> str:
    """Refuse empty text, control characters and lone surrogates (invalid Unicode)."""
    if not text.strip():
        raise ValueError("text must not be empty or whitespace only")
    for position, char in enumerate(text):
        category = unicodedata.category(char)
        if category == "Cs":
            raise ValueError(f"invalid Unicode (lone surrogate) at character {position}")
        if category == "Cc" and char not in ALLOWED_CONTROLS:
            raise ValueError(f"control character U+{ord(char):04X} at character {position}")
    return text


LinkRule = Literal["argmax", "intersection", "threshold"]
Symmetrization = Literal["intersection", "union", "grow-diag-final-and", "product", "mean"]
Links = Literal["forward", "agreement"]
LINKS_DESCRIPTION = (
    "'forward': the links of this model's own matrix (read with `link_rule`). 'agreement': "
    "the links both directions agree on, where the model translating the other way is "
    "served; it runs teacher-forced over each pair reversed, and the two matrices are "
    "symmetrized as chosen on dev. Default: 'agreement' on /v1/align where the reverse model "
    "is served, and NMT_TRANSLATE_LINKS on /v1/translate. Not with `link_rule`."
)
LINK_RULE_DESCRIPTION = (
    "How the Pharaoh links are read off the alignment matrix: 'argmax' (each target word to "
    "its best source word), 'intersection' (argmax links that are also the best target word "
    "of their source word), 'threshold' (every pair above the model's dev-tuned threshold). "
    "Default: the rule chosen on the dev set for this model (see /v1/models)."
)


def _as_list(value: str | list[str], field: str) -> list[str]:
    if isinstance(value, list):
        if not value:
            raise ValueError(f"{field} must not be an empty list")
        for text in value:
            check_text(text)
        return value
    check_text(value)
    return [value]


class TranslateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    text: str | list[str] = Field(
        description="One text, or a list of texts translated together (order is kept).",
        examples=["In the beginning, God created the heavens and the earth."],
    )
    source_lang: str | None = Field(None, description="Must be the model's source language.")
    target_lang: str | None = Field(None, description="Must be the model's target language.")
    beam_size: JsonInt | None = Field(
        None,
        ge=1,
        description="1 = greedy; default and maximum from the settings (NMT_DEFAULT_BEAM_SIZE, "
        "NMT_MAX_BEAM_SIZE; see GET /v1/models); above the maximum: 422 invalid_beam_size.",
    )
    n_best: JsonInt = Field(
        1,
        ge=1,
        description="Hypotheses returned: 1 + len(alternatives). Must not exceed the beam "
        "size in use (n_best <= beam_size), else 422 invalid_n_best.",
    )
    format: Literal["text", "html", "xml"] = Field(
        "text",
        description="'html' or 'xml': the text is markup. Block elements separate units, "
        "inline elements are carried onto the words their source words are linked to, "
        "and the answer is well-formed markup (see README, HTML and XML).",
    )
    return_attention: bool = Field(True, description="Include the alignment of each text.")
    return_candidates: JsonInt = Field(
        0,
        ge=0,
        le=MAX_CANDIDATES,
        description="k > 0: for every target piece, the k best pieces the model weighed at "
        "that step (0 = off).",
    )
    link_rule: LinkRule | None = Field(None, description=LINK_RULE_DESCRIPTION)
    links: Links | None = Field(None, description=LINKS_DESCRIPTION)
    target_prefix: str | list[str | None] | None = Field(
        None,
        description="The start the translation must have; the model completes it (greedy or "
        "beam: every alternative starts with it, and `score` counts its pieces). A string "
        "for a string `text`, a list (one per text, null for none) for a list. A text is "
        "split into sentences: its prefix starts its first sentence. Tokenized like a "
        "translation, so a prefix ending inside a word ('En el princ') is forced as the "
        "pieces of that part of the word, and the model may finish the word; whitespace at "
        "its end is not kept. Refused (422): empty, control characters, characters the "
        "target vocabulary lacks, more pieces than the sentence's length limit allows, "
        "format html or xml.",
        examples=["En el principio"],
    )

    @field_validator("text")
    @classmethod
    def _check_texts(cls, value: str | list[str]) -> str | list[str]:
        _as_list(value, "text")
        return value

    @field_validator("target_prefix")
    @classmethod
    def _check_prefixes(cls, value: str | list[str | None] | None) -> str | list[str | None] | None:
        for prefix in value if isinstance(value, list) else [value]:
            if prefix is not None:
                check_text(prefix)
        return value

    @model_validator(mode="after")
    def _prefix_per_text(self) -> TranslateRequest:
        prefix = self.target_prefix
        if prefix is None:
            return self
        if isinstance(prefix, list) != isinstance(self.text, list):
            raise ValueError("text and target_prefix must both be strings or both be lists")
        if isinstance(prefix, list) and len(prefix) != len(self.text):
            raise ValueError(f"text has {len(self.text)} texts but target_prefix has {len(prefix)}")
        return self

    @property
    def texts(self) -> list[str]:
        return [self.text] if isinstance(self.text, str) else list(self.text)

    @property
    def target_prefixes(self) -> list[str | None] | None:
        """One prefix per text (None for none), or None without any."""
        prefix = self.target_prefix
        return None if prefix is None else [prefix] if isinstance(prefix, str) else list(prefix)


Span = tuple[int, int]


class WordLevel(BaseModel):
    source: list[str] = Field(
        description="The whitespace words of the whole source text, in order, then '</s>'."
    )
    target: list[str] = Field(
        description="The whitespace words of the whole translation, in order, then '</s>'."
    )
    source_spans: list[Span | None] = Field(
        description="[start, end) character offsets of each source word in the request "
        "text (null for '</s>')."
    )
    target_spans: list[Span | None] = Field(
        description="[start, end) character offsets of each target word in the translation "
        "(null for '</s>')."
    )
    attention: list[list[float]] | None = Field(
        description="(target words x source words): summed over a source word's pieces, "
        "averaged over a target word's pieces; rows sum to 1. Null for a text of several "
        "sentences: each sentence's matrix is in `alignment.sentences`."
    )


class HeadAlignment(BaseModel):
    attention: list[list[float]] = Field(
        description="(target pieces x source pieces): the head's alignment probabilities, "
        "rows summing to 1. Unlike alpha, the head sees the target word it aligns."
    )
    words: list[list[float]] = Field(
        description="(target words x source words), pooled like `words.attention`."
    )


class SentenceBlock(BaseModel):
    """The matrices of one sentence of a text of several sentences."""

    source_tokens: Span = Field(
        description="[start, end) of its pieces in `alignment.source_tokens` (ending with "
        "its own '</s>')."
    )
    target_tokens: Span = Field(description="[start, end) in `alignment.target_tokens`.")
    source_words: Span = Field(description="[start, end) of its words in `words.source`.")
    target_words: Span = Field(description="[start, end) of its words in `words.target`.")
    attention: list[list[float]] = Field(description="alpha_ij over its own pieces.")
    words_attention: list[list[float]] = Field(
        description="(its target words + 1) x (its source words + 1): its words, then '</s>'."
    )
    alignment_head: HeadAlignment | None = None


class Alignment(BaseModel):
    source_tokens: list[str] = Field(
        description="Source subword pieces; each sentence's pieces end with '</s>'."
    )
    target_tokens: list[str] = Field(
        description="Target subword pieces; each sentence's pieces end with '</s>'."
    )
    eos_token: Literal["</s>"] = Field("</s>", description="How end-of-sentence is written.")
    attention: list[list[float]] | None = Field(
        description="alpha_ij: one row per target token, one column per source token; "
        "rows sum to 1. Null for a text of several sentences (see `sentences`)."
    )
    words: WordLevel
    pharaoh: str = Field(
        description="Hard word alignments 'i-j' (source-target, 0-based), end-of-sentence "
        "excluded, read off the matrix named by `pharaoh_source` with `link_rule`."
    )
    pharaoh_source: Literal["attention", "alignment_head", "agreement"] = Field(
        "attention",
        description="'alignment_head' when the model has a trained word-alignment head (its "
        "probabilities are in `alignment_head`), else 'attention' (the model's alpha); "
        "'agreement' when the links come from both directions (see `links`).",
    )
    link_rule: LinkRule | Symmetrization = Field(
        "argmax",
        description=LINK_RULE_DESCRIPTION + " With pharaoh_source 'agreement': the "
        "symmetrization of the two directions.",
    )
    alignment_head: HeadAlignment | None = Field(
        None,
        description="The alignment head's probabilities, when the model has one (for a "
        "text of several sentences, per sentence in `sentences`).",
    )
    sentences: list[SentenceBlock] | None = Field(
        None,
        description="A text of several sentences: each sentence's matrices, in order. Each "
        "sentence is decoded on its own, so no piece of one attends to another sentence. "
        "Null for a text of one sentence, whose matrices are the fields above.",
    )


class SentenceOut(BaseModel):
    source_span: Span = Field(description="[start, end) character offsets in the source.")
    target_span: Span = Field(description="[start, end) character offsets in the translation.")
    score: float = Field(description="The sentence's length-normalized log-probability.")


class AlignRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    source: str | list[str] = Field(
        description="One source text, or a list aligned pair by pair with `target`.",
        examples=["In the beginning, God created the heavens and the earth."],
    )
    target: str | list[str] = Field(
        description="Its translation (a list when `source` is one, of the same length).",
        examples=["En el principio crió Dios los cielos y la tierra."],
    )
    source_lang: str | None = Field(None, description="Must be the model's source language.")
    target_lang: str | None = Field(None, description="Must be the model's target language.")
    link_rule: LinkRule | None = Field(None, description=LINK_RULE_DESCRIPTION)
    links: Links | None = Field(None, description=LINKS_DESCRIPTION)
    format: Literal["text", "html", "xml"] = Field(
        "text",
        description="'html' or 'xml': the source is markup and the target plain text (one line per "
        "block of the source); each result's `target_markup` is the target with the "
        "source's markup placed on it through the word links.",
    )

    @field_validator("source", "target")
    @classmethod
    def _check_texts(cls, value: str | list[str]) -> str | list[str]:
        _as_list(value, "source or target")
        return value

    @model_validator(mode="after")
    def _same_shape(self) -> AlignRequest:
        if isinstance(self.source, list) != isinstance(self.target, list):
            raise ValueError("source and target must both be strings or both be lists")
        if isinstance(self.source, list) and len(self.source) != len(self.target):
            raise ValueError(
                f"source has {len(self.source)} texts but target has {len(self.target)}"
            )
        return self

    @property
    def pairs(self) -> list[tuple[str, str]]:
        return list(
            zip(_as_list(self.source, "source"), _as_list(self.target, "target"), strict=True)
        )


StorageState = Literal["stored", "pending", "dropped"]
STORED_FIELD = Field(
    description="True when the alignment document was written to the store before "
    "the answer (storage == 'stored')."
)
STORAGE_FIELD = Field(
    description="'stored': written; 'pending': waiting in this replica's write buffer "
    "(the store is slow or down), fetchable now and written when the store answers; "
    "'dropped': the buffer was full, the id will not resolve."
)


class AlternativeOut(BaseModel):
    text: str
    score: float


class CandidateOut(BaseModel):
    token: str = Field(description="A target piece, '</s>' for end of sentence.")
    logprob: float = Field(description="Its log-probability at that step.")


class PlainTexts(BaseModel):
    source: str = Field(description="The plain text of the source markup's units, one per line.")
    target: str = Field(description="Its translation, the text the alignment's offsets index.")


class TranslationOut(BaseModel):
    id: str = Field(description="Fetch the alignment document later at /v1/translations/{id}.")
    text: str = Field(description="The translation; with format html or xml, the markup.")
    plain: PlainTexts | None = Field(
        None,
        description="Format html or xml: the plain texts the model translated and the "
        "alignment describes (null for format text).",
    )
    score: float = Field(description="Length-normalized log-probability.")
    alternatives: list[AlternativeOut]
    sentences: list[SentenceOut] = Field(
        description="The text's sentences, each translated on its own and joined with the "
        "text's own whitespace between them."
    )
    stored: bool = STORED_FIELD
    storage: StorageState = STORAGE_FIELD
    alignment: Alignment | None = None
    candidates: list[list[CandidateOut]] | None = Field(
        None,
        description="With return_candidates = k: one entry per target piece of the "
        "translation, the k best pieces of that step, best first.",
    )


class AlignmentOut(BaseModel):
    id: str = Field(description="Fetch the alignment document later at /v1/translations/{id}.")
    source: str
    target: str
    score: float = Field(
        description="Length-normalized log-probability of the target given the source."
    )
    token_scores: list[float] = Field(
        description="Log-probability of each target piece (`alignment.target_tokens`)."
    )
    sentences: list[SentenceOut]
    target_markup: str | None = Field(
        None,
        description="Format html or xml: the target text with the source's markup placed on "
        "it (null for format text).",
    )
    sentence_pairing: Literal["sentences", "whole"] = Field(
        description="'sentences': source and target have as many sentences and were aligned "
        "one to one; 'whole': they have not, and the pair was aligned as one unit."
    )
    stored: bool = STORED_FIELD
    storage: StorageState = STORAGE_FIELD
    alignment: Alignment


class ModelInfo(BaseModel):
    name: str
    version: str
    source_lang: str
    target_lang: str
    precision: str
    execution_provider: str


class TranslateResponse(BaseModel):
    model: ModelInfo
    translations: list[TranslationOut]


class AlignResponse(BaseModel):
    model: ModelInfo
    alignments: list[AlignmentOut]


class DecodingOptions(BaseModel):
    beam_size: int | None = Field(description="None for a given (aligned) translation.")
    n_best: int | None
    length_penalty: float
    max_length_ratio: float | None
    forced: bool = Field(False, description="True: the target was given, not decoded.")
    target_prefix: str | None = Field(
        None, description="The start the translation was given (`target_prefix`), if any."
    )


class AlignmentDocument(BaseModel):
    id: str
    source: str
    text: str
    sentences: list[SentenceOut] | None = None
    alignment: Alignment
    model: ModelInfo
    options: DecodingOptions
    created_at: str = Field(description="ISO 8601, UTC.")


class ModelsResponse(BaseModel):
    models: list[dict[str, object]]


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorBody
