"""SentencePiece tokenization for both sides, with the artifact's special ids."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import sentencepiece as spm

EOS_PIECE = "</s>"


class TokenizerError(ValueError):
    pass


@dataclass(frozen=True)
class EncodedSource:
    """The ids and pieces of one text (source, or a given target)."""

    ids: list[int]  # ends with EOS
    pieces: list[str]  # ends with "</s>"


class Tokenizer:
    def __init__(self, source_model: Path, target_model: Path, eos_id: int) -> None:
        try:
            self.source = spm.SentencePieceProcessor(model_file=str(source_model))
        except (OSError, RuntimeError) as error:
            raise TokenizerError(f"{source_model}: not a SentencePiece model ({error})") from error
        try:
            self.target = spm.SentencePieceProcessor(model_file=str(target_model))
        except (OSError, RuntimeError) as error:
            raise TokenizerError(f"{target_model}: not a SentencePiece model ({error})") from error
        self.eos_id = eos_id

    def encode_source(self, text: str) -> EncodedSource:
        ids = list(self.source.encode(text))
        pieces = [self.source.id_to_piece(i) for i in ids]
        return EncodedSource([*ids, self.eos_id], [*pieces, EOS_PIECE])

    def encode_target(self, text: str) -> EncodedSource:
        """A given translation as the decoder would have produced it: pieces, then EOS."""
        ids = list(self.target.encode(text))
        pieces = [self.target.id_to_piece(i) for i in ids]
        return EncodedSource([*ids, self.eos_id], [*pieces, EOS_PIECE])

    def encode_prefix(self, text: str) -> list[int]:
        """The start of a translation, to be forced before the search: its pieces without
        EOS. SentencePiece reads it as a whole text, so its first piece starts a word, and a
        prefix ending inside a word ("En el princ") ends with that word's first pieces."""
        return list(self.target.encode(text))

    def unknown_target_pieces(self, ids: list[int]) -> int:
        """How many of ``ids`` are the target vocabulary's unknown piece."""
        unknown = self.target.unk_id()
        return sum(1 for i in ids if i == unknown)

    def target_pieces(self, ids: list[int]) -> list[str]:
        """Pieces of a hypothesis; the EOS id becomes ``"</s>"``."""
        return [EOS_PIECE if i == self.eos_id else self.target.id_to_piece(i) for i in ids]

    def decode_target(self, ids: list[int]) -> str:
        return str(self.target.decode([i for i in ids if i != self.eos_id]))
