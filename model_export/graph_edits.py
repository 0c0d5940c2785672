"""Edits of exported ONNX graphs: the decoder steps end in TopK with k as an input, and
int8 copies of the encoder and decoder steps with dynamically quantized weights."""

from __future__ import annotations

from pathlib import Path

import onnx


def append_top_k(decoder_path: Path, ids_from: str | None = None) -> None:
    """End the decoder step in TopK over ``log_probs``, with k a graph input.

    The exporter would freeze k as a constant; as an input, one graph serves greedy (k = 1),
    beam search (2 x beam) and candidate lists alike. With ``ids_from`` (the shortlist
    step's ``candidates``), TopK's positions are mapped to the ids they stand for.
    """
    model = onnx.load(str(decoder_path))
    graph = model.graph
    graph.input.append(onnx.helper.make_tensor_value_info("top_k", onnx.TensorProto.INT64, [1]))
    positions = "top_positions" if ids_from else "top_ids"
    graph.node.append(
        onnx.helper.make_node(
            "TopK",
            ["log_probs", "top_k"],
            ["top_log_probs", positions],
            name="top_k_of_log_probs",
            axis=-1,
            largest=1,
            sorted=1,
        )
    )
    if ids_from:
        graph.node.append(
            onnx.helper.make_node(
                "Gather", [ids_from, positions], ["top_ids"], name="ids_of_top_k", axis=0
            )
        )
    graph.output.extend(
        [
            onnx.helper.make_tensor_value_info(
                "top_log_probs", onnx.TensorProto.FLOAT, ["batch", "k"]
            ),
            onnx.helper.make_tensor_value_info("top_ids", onnx.TensorProto.INT64, ["batch", "k"]),
        ]
    )
    onnx.save(model, str(decoder_path))


def quantize_int8(artifact_dir: Path, names: tuple[str, ...]) -> None:
    """Dynamic int8 quantization of the graphs ``names`` (the encoder and decoder steps) into
    ``artifact_dir/int8``."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    target = artifact_dir / "int8"
    target.mkdir(exist_ok=True)
    for name in names:
        quantize_dynamic(
            artifact_dir / name,
            target / name,
            weight_type=QuantType.QInt8,
            op_types_to_quantize=["MatMul", "Gemm", "Gather"],
            nodes_to_exclude=_bias_gathers(artifact_dir / name),
        )


def _bias_gathers(path: Path) -> list[str]:
    """The shortlist step's Gather of the output bias: kept in float, as the bias of the
    full step's projection is, so both int8 steps give the same logits."""
    graph = onnx.load(str(path), load_external_data=False).graph
    return [
        node.name
        for node in graph.node
        if node.op_type == "Gather" and node.input[0] == "decoder.projection.bias"
    ]
