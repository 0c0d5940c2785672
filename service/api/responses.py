"""Response bodies of the HTTP API: translations and alignments with their matrices, the
stored alignment document, models and errors (they make the OpenAPI page at /docs)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from service.api.schemas import LINK_RULE_DESCRIPTION, LinkRule, Symmetrization

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
