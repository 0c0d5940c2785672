"""The bench's ceiling: the step's FLOP count and the measured matrix-product rates."""

from __future__ import annotations

import math

from bench.ceiling import (
    DecoderShapes,
    ceiling_rows_per_s,
    onnxruntime_matmul_rate,
    sgemm_rate,
)

SHAPES = DecoderShapes(
    embedding=16,
    encoder_hidden=8,
    decoder_hidden=12,
    attention=10,
    output=6,
    vocabulary=50,
    source_length=7,
)


def test_flops_per_row_counts_every_product_and_the_attention() -> None:
    products = [(12, 10), (16 + 16, 36), (12, 36), (12 + 16 + 16, 6), (6, 50)]
    gemm = sum(2 * k * n for k, n in products)
    attention = 2 * 7 * 10 + 2 * 7 * 16
    assert SHAPES.flops_per_row() == gemm + attention
    assert [p[1:] for p in SHAPES.products(3)] == products
    assert all(m == 3 for m, _, _ in SHAPES.products(3))


def test_both_kernels_are_measured_and_the_ceiling_is_rate_over_flops() -> None:
    numpy_rate = sgemm_rate(SHAPES, 4, seconds=0.05)
    ort_rate = onnxruntime_matmul_rate(SHAPES, 4, threads=1, seconds=0.05)
    assert numpy_rate > 0 and ort_rate > 0
    rate, rows = ceiling_rows_per_s(SHAPES, 4)
    assert math.isfinite(rate) and rate > 0
    assert math.isclose(rows, rate / SHAPES.flops_per_row())
