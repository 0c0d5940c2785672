"""The bench's in-process table on the tiny model: one row per figure, in order, with the
decoder rows it really ran."""

from __future__ import annotations

from pathlib import Path

from bench.in_process import decode_table, load

SENTENCES = ["God is love.", "Amen.", "In the beginning was the Word.", "Jesus wept."]


def test_decode_table_keeps_one_best_row_per_figure(tiny_artifact: Path) -> None:
    translator = load(tiny_artifact, "fp32", 1)
    rows = decode_table(translator, SENTENCES, beams=[1, 2], batches=[1, 2], rounds=2)
    assert [(r["beam"], r["batch"]) for r in rows] == [(1, 1), (1, 2), (2, 1), (2, 2)]
    for row in rows:
        assert row["sentences_per_s"] > 0 and row["target_tokens_per_s"] > 0
        # Decoder steps are part of the whole decode, so they run faster than it.
        assert row["step_rows_per_s"] > row["decoder_rows_per_s"] > 0
    # One sentence at a time: greedy runs one row a step, beam 2 two rows.
    assert rows[0]["rows_per_step"] == 1.0
    assert rows[2]["rows_per_step"] == 2.0
