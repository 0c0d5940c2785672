"""The shortlist builder on a handful of word-aligned pairs, and its artifact entry."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import sentencepiece as spm

from model_export.export import rebuild_torch_model
from model_export.parity import check_parity
from model_export.shortlist import count_pieces, install_shortlist, make_shortlist
from service.inference.shortlist import SHORTLIST_FILE, Shortlist, ShortlistError

SPECIAL = [0, 1, 2, 3]
PAIRS = [
    ("God said", "Dios dijo", {(0, 0), (1, 1)}),
    ("God saw the light", "Dios vio la luz", {(0, 0), (1, 1), (2, 2), (3, 3)}),
    ("the light", "la luz", {(0, 0), (1, 1)}),
    ("God", "Dios", {(0, 0), (5, 5)}),  # a link past the words: the pair is left out
]


@pytest.fixture(scope="module")
def processors(tiny_data: Path) -> tuple[spm.SentencePieceProcessor, spm.SentencePieceProcessor]:
    return (
        spm.SentencePieceProcessor(model_file=str(tiny_data / "source.model")),
        spm.SentencePieceProcessor(model_file=str(tiny_data / "target.model")),
    )


def pieces_of(sp: spm.SentencePieceProcessor, word: str) -> list[int]:
    return list(sp.encode(word))


def test_links_are_counted_between_the_pieces_of_linked_words(
    processors: tuple[spm.SentencePieceProcessor, spm.SentencePieceProcessor],
) -> None:
    source_sp, target_sp = processors
    counts = count_pieces(
        [p[0] for p in PAIRS], [p[1] for p in PAIRS], [p[2] for p in PAIRS], source_sp, target_sp
    )
    source, target, probability = counts.probabilities()
    pairs = set(zip(source.tolist(), target.tolist(), strict=True))
    for s in pieces_of(source_sp, "God"):
        for t in pieces_of(target_sp, "Dios"):
            assert (s, t) in pairs
    for s in pieces_of(source_sp, "light"):
        for t in pieces_of(target_sp, "Dios"):
            assert (s, t) not in pairs or s in pieces_of(source_sp, "God")
    totals = np.bincount(source, weights=probability)
    assert np.allclose(totals[np.unique(source)], 1.0)  # p(. | s) sums to one
    # the fourth pair's target counts towards frequency even though its links are left out
    assert counts.target_frequency.sum() == sum(len(target_sp.encode(p[1])) for p in PAIRS)


def test_the_shortlist_keeps_the_k_most_probable_pieces_and_the_frequent_ones(
    processors: tuple[spm.SentencePieceProcessor, spm.SentencePieceProcessor],
) -> None:
    source_sp, target_sp = processors
    counts = count_pieces(
        [p[0] for p in PAIRS], [p[1] for p in PAIRS], [p[2] for p in PAIRS], source_sp, target_sp
    )
    shortlist = make_shortlist(counts, k=1, frequent=2, special=SPECIAL)
    assert np.all(np.diff(shortlist.indptr) <= 1)
    assert set(SPECIAL) <= set(shortlist.always.tolist())
    assert len(shortlist.always) <= 2 + len(SPECIAL)
    most_frequent = int(np.argmax(counts.target_frequency))
    assert most_frequent in shortlist.always
    god = pieces_of(source_sp, "God")
    candidates = shortlist.candidates([*god, 3])
    assert np.all(np.diff(candidates) > 0)  # sorted, unique
    assert set(pieces_of(target_sp, "Dios")) & set(candidates.tolist())
    wider = make_shortlist(counts, k=50, frequent=2, special=SPECIAL)
    assert set(candidates.tolist()) <= set(wider.candidates([*god, 3]).tolist())


def test_a_saved_shortlist_loads_and_a_broken_one_is_refused(
    processors: tuple[spm.SentencePieceProcessor, spm.SentencePieceProcessor], tmp_path: Path
) -> None:
    source_sp, target_sp = processors
    counts = count_pieces(
        [p[0] for p in PAIRS], [p[1] for p in PAIRS], [p[2] for p in PAIRS], source_sp, target_sp
    )
    shortlist = make_shortlist(counts, k=3, frequent=4, special=SPECIAL)
    shortlist.save(tmp_path / SHORTLIST_FILE)
    loaded = Shortlist.load(tmp_path / SHORTLIST_FILE, target_sp.get_piece_size())
    assert np.array_equal(loaded.indices, shortlist.indices)
    assert (loaded.k, loaded.frequent) == (3, 4)
    with pytest.raises(ShortlistError, match="outside the target vocabulary"):
        Shortlist.load(tmp_path / SHORTLIST_FILE, 2)
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(ShortlistError):
        Shortlist.load(tmp_path / "bad.npz", 400)


def test_install_writes_the_shortlist_and_parity_covers_its_step(
    tiny_artifact: Path, tiny_data: Path, tmp_path: Path
) -> None:
    model_dir = tmp_path / "model"
    shutil.copytree(tiny_artifact, model_dir)
    install_shortlist(model_dir, tiny_data, k=10, frequent=20)
    config = json.loads((model_dir / "model_config.json").read_text())
    assert config["shortlist"]["file"] == SHORTLIST_FILE
    assert (config["shortlist"]["k"], config["shortlist"]["frequent"]) == (10, 20)
    assert (model_dir / config["int8"]["decoder_step_shortlist"]).is_file()
    report = check_parity(rebuild_torch_model(model_dir), model_dir, batch_sizes=(1, 3))
    assert report.shortlist_rows > 0
    assert report.max_shortlist_logit_diff <= 1e-4
    assert report.max_shortlist_offset_spread <= 1e-4
    assert report.shortlist_best_identical
    assert report.ok
