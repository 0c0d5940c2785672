"""The Marian bench's shortlist file, without Marian: the lexical table it hands Marian is
the artifact's own piece statistics, in Marian's "target source p(target|source)" format."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest
import sentencepiece as spm

from bench.marian import write_lexicon


def test_the_lexicon_is_marians_text_format_over_the_artifacts_pieces(
    tiny_artifact: Path, tiny_data: Path, tmp_path: Path
) -> None:
    path = tmp_path / "lex.s2t"
    entries = write_lexicon(tiny_data, tiny_artifact, path)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert entries == len(lines) > 0
    source = spm.SentencePieceProcessor(model_file=str(tiny_artifact / "source.spm"))
    target = spm.SentencePieceProcessor(model_file=str(tiny_artifact / "target.spm"))
    totals: dict[str, float] = defaultdict(float)
    for line in lines:
        target_piece, source_piece, probability = line.split(" ")
        assert target.piece_to_id(target_piece) != target.unk_id()
        assert source.piece_to_id(source_piece) != source.unk_id()
        assert 0 < float(probability) <= 1
        totals[source_piece] += float(probability)
    # p(target | source) sums to one over each source piece's linked targets.
    assert all(total == pytest.approx(1.0, abs=1e-3) for total in totals.values())
