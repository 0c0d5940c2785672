"""The models the service serves, one per language pair, and how a request finds its own.

Several models are several artifact directories (Triton's model repository): each is
loaded into its own translator and decoded by its own step scheduler, and a request is
routed by its language pair. Nothing here knows of HTTP.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from service.inference.scheduler import StepScheduler
from service.inference.translation import Translation
from service.inference.translator import DecodeRequest, Translator, Work


class UnsupportedPair(ValueError):
    """No served model translates the language pair asked for."""


@dataclass
class ServedModel:
    translator: Translator
    scheduler: StepScheduler[DecodeRequest, Work, Translation]

    @property
    def source_lang(self) -> str:
        return self.translator.artifact.source_lang

    @property
    def target_lang(self) -> str:
        return self.translator.artifact.target_lang

    @property
    def key(self) -> str:
        """``en-es``: the pair, which names the model in metrics and messages."""
        return f"{self.source_lang}-{self.target_lang}"


class ModelRegistry:
    """Served models by language pair, in the order they were given."""

    def __init__(self, models: list[ServedModel]) -> None:
        self.models: dict[tuple[str, str], ServedModel] = {}
        for model in models:
            pair = (model.source_lang, model.target_lang)
            if pair in self.models:
                raise ValueError(f"two models translate {model.key}")
            self.models[pair] = model

    def __iter__(self) -> Iterator[ServedModel]:
        return iter(self.models.values())

    def __len__(self) -> int:
        return len(self.models)

    @property
    def pairs(self) -> list[tuple[str, str]]:
        return list(self.models)

    @property
    def languages(self) -> list[str]:
        """Every language read or written, in order of first appearance."""
        return list(dict.fromkeys(lang for pair in self.models for lang in pair))

    def reverse_of(self, model: ServedModel) -> ServedModel | None:
        """The model translating the other way, whose teacher-forced pass over a pair,
        reversed, gives the second direction's links (see :mod:`service.inference.agreement`)."""
        return self.models.get((model.target_lang, model.source_lang))

    def sources_for(self, target: str | None) -> list[str]:
        """The source languages of the models that write ``target`` (None: any)."""
        return [s for s, t in self.models if target is None or t == target]

    def find(self, source: str | None, target: str | None) -> ServedModel:
        """The model for ``source`` to ``target``; either may be None (any), as long as one
        model fits. Raises :class:`UnsupportedPair` naming what is served."""
        fits = [
            model
            for (s, t), model in self.models.items()
            if source in (None, s) and target in (None, t)
        ]
        if len(fits) == 1:
            return fits[0]
        served = ", ".join(model.key for model in self)
        if not fits:
            asked = f"{source or 'any language'} to {target or 'any language'}"
            raise UnsupportedPair(f"no model translates {asked}; served: {served}")
        raise UnsupportedPair(
            f"several models fit; give both source_lang and target_lang (served: {served})"
        )
