"""The limit decoding is measured against: the decoder step's FLOP count and this machine's
sgemm rate at the decoder's own shapes, measured in the same run.

The ceiling at a batch of ``rows`` decoder rows is the rate at which the step's matrix
products alone run (float32, same shapes, the faster of numpy's kernels and ONNX Runtime's
MatMul, best of several windows): rows per second that no implementation of this model on
this machine, with these kernels, can beat by much.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from service.inference.runtime import session_options


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

    def product_flops(self, rows: int) -> float:
        """Multiply-adds x 2 of the step's matrix products for ``rows`` rows."""
        return float(sum(2 * m * k * n for m, k, n in self.products(rows)))

    def flops_per_row(self) -> float:
        """Multiply-adds x 2 of one decoder row, attention over the source included."""
        gemm = self.product_flops(1)
        t = self.source_length
        attention = 2 * t * self.attention + 2 * t * 2 * self.encoder_hidden
        return float(gemm + attention)


def _best_rate(run: Callable[[], object], flops: float, seconds: float) -> float:
    """FLOP/s of ``run`` at its best over several short windows: a ceiling is what the
    machine can do, and a neighbour's burst should lower no ceiling."""
    run()  # warm
    best, windows = 0.0, 5
    for _ in range(windows):
        runs, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds / windows:
            run()
            runs += 1
        best = max(best, flops * runs / elapsed)
    return best


def _operands(shapes: DecoderShapes, rows: int) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(0)
    return [
        (
            rng.standard_normal((m, k), dtype=np.float32),
            rng.standard_normal((k, n), dtype=np.float32),
        )
        for m, k, n in shapes.products(rows)
    ]


def sgemm_rate(shapes: DecoderShapes, rows: int, seconds: float = 0.5) -> float:
    """FLOP/s of numpy float32 matrix products at the step's shapes for ``rows`` rows."""
    operands = _operands(shapes, rows)

    def run() -> None:
        for a, b in operands:
            a @ b

    return _best_rate(run, shapes.product_flops(rows), seconds)


def onnxruntime_matmul_rate(
    shapes: DecoderShapes, rows: int, threads: int = 2, seconds: float = 0.5
) -> float:
    """FLOP/s of ONNX Runtime's own MatMul kernels (constant, prepacked weights) at the
    step's shapes for ``rows`` rows, threaded as the service's sessions are (the shared,
    spinning pool): at a few rows they beat numpy's."""
    operands = _operands(shapes, rows)
    nodes, inputs, outputs, weights = [], [], [], []
    for n, (a, b) in enumerate(operands):
        inputs.append(helper.make_tensor_value_info(f"a{n}", TensorProto.FLOAT, list(a.shape)))
        outputs.append(helper.make_tensor_value_info(f"y{n}", TensorProto.FLOAT, None))
        weights.append(numpy_helper.from_array(b, f"b{n}"))
        nodes.append(helper.make_node("MatMul", [f"a{n}", f"b{n}"], [f"y{n}"]))
    graph = helper.make_graph(nodes, "step_products", inputs, outputs, weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    session = ort.InferenceSession(
        model.SerializeToString(),
        session_options(threads, shared=True),
        providers=["CPUExecutionProvider"],
    )
    feeds = {f"a{n}": a for n, (a, _) in enumerate(operands)}
    return _best_rate(lambda: session.run(None, feeds), shapes.product_flops(rows), seconds)


def ceiling_rows_per_s(shapes: DecoderShapes, rows: int) -> tuple[float, float]:
    """(FLOP/s of the step's matrix products at these shapes with the faster of numpy and
    ONNX Runtime, decoder rows/s that rate allows)."""
    rate = max(sgemm_rate(shapes, rows), onnxruntime_matmul_rate(shapes, rows))
    return rate, rate / shapes.flops_per_row()
