"""The limit decoding is measured against: the decoder step's FLOP count and this machine's
sgemm rate at the decoder's own shapes, measured in the same run.

The ceiling at a batch of ``rows`` decoder rows is the rate at which the step's matrix
products alone (numpy float32, same shapes) run: rows per second that no implementation of
this model on this machine, with these kernels, can beat by much.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class DecoderShapes:
    embedding: int
    encoder_hidden: int
    decoder_hidden: int
    attention: int
    output: int
    vocabulary: int
    source_length: int = 35

    @classmethod
    def from_config(cls, model: dict[str, Any], source_length: int = 35) -> DecoderShapes:
        return cls(
            model["embedding_size"],
            model["encoder_hidden_size"],
            model["decoder_hidden_size"],
            model["attention_size"],
            model["output_size"],
            model["tgt_vocab_size"],
            source_length,
        )

    def products(self, rows: int) -> list[tuple[int, int, int]]:
        """(m, k, n) of the step's matrix products for ``rows`` rows."""
        context = 2 * self.encoder_hidden
        return [
            (rows, self.decoder_hidden, self.attention),  # W s_{i-1}
            (rows, self.embedding + context, 3 * self.decoder_hidden),  # GRU input gates
            (rows, self.decoder_hidden, 3 * self.decoder_hidden),  # GRU hidden gates
            (rows, self.decoder_hidden + self.embedding + context, self.output),  # deep output
            (rows, self.output, self.vocabulary),  # projection to the vocabulary
        ]

    def flops_per_row(self) -> float:
        """Multiply-adds x 2 of one decoder row, attention over the source included."""
        gemm = sum(2 * k * n for _, k, n in self.products(1))
        t = self.source_length
        attention = 2 * t * self.attention + 2 * t * 2 * self.encoder_hidden
        return float(gemm + attention)


def sgemm_rate(shapes: DecoderShapes, rows: int, seconds: float = 0.3) -> float:
    """FLOP/s of numpy float32 matrix products at the step's shapes for ``rows`` rows."""
    rng = np.random.default_rng(0)
    operands = [
        (
            rng.standard_normal((m, k), dtype=np.float32),
            rng.standard_normal((k, n), dtype=np.float32),
        )
        for m, k, n in shapes.products(rows)
    ]
    flops = sum(2 * m * k * n for m, k, n in shapes.products(rows))
    for a, b in operands:  # warm
        a @ b
    runs, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for a, b in operands:
            a @ b
        runs += 1
    return flops * runs / elapsed


def ceiling_rows_per_s(shapes: DecoderShapes, rows: int) -> tuple[float, float]:
    """(sgemm FLOP/s at these shapes, decoder rows/s that rate allows)."""
    rate = sgemm_rate(shapes, rows)
    return rate, rate / shapes.flops_per_row()
