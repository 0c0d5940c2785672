"""Request bodies of the HTTP API and their checks (with :mod:`service.api.responses`, they
make the OpenAPI page at /docs)."""

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
