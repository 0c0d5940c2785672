"""Export the encoder and one decoder step to ONNX, with parity checks and an int8 variant.

Artifact layout (everything the service needs, nothing from PyTorch)::

    encoder.onnx        src_tokens (B,T) int64, src_lengths (B,) int64
                        -> annotations (B,T,2H), keys (B,T,A), init_state (B,D)
    decoder_step.onnx   prev_tokens (B,) int64, state (B,D), annotations (B,T,2H),
                        keys (B,T,A), src_mask (B,T) bool, gather_tokens (B,) int64,
                        top_k (1,) int64
                        -> log_probs (B,V), new_state (B,D), attention (B,T),
                           gathered_log_probs (B,): log-probability of each row's gather token,
                           top_log_probs (B,k), top_ids (B,k): the k best pieces, best first
    decoder_step_shortlist.onnx
                        the decoder step over C candidate pieces: the inputs of
                        decoder_step.onnx but ``gather_positions`` (B,) int64 (indices into
                        the candidates) for ``gather_tokens``, and ``candidates`` (C,) int64
                        -> logits (B,C), log_probs (B,C): renormalized over the candidates,
                           new_state, attention, gathered_log_probs (B,),
                           top_log_probs (B,k), top_ids (B,k): vocabulary ids, best first
    alignment_head.onnx annotations (B,T,2H), src_mask (B,T) bool, tgt_tokens (B,U) int64
                        (y_1..y_U, the last ``</s>``), tgt_lengths (B,) int64
                        -> probabilities (B,U,T); only for a model with an alignment head,
                        run once per finished translation or aligned pair
    int8/               the encoder and both decoder steps with dynamically quantized weights
    shortlist.npz       optional, the lexical shortlist (``model_export.shortlist``)
    source.spm, target.spm
    model_config.json   format version, sizes, special-token ids, languages, data, scores

Search fetches only the top-k, the gathered log-probabilities, the state and the attention
of a step; the full ``log_probs`` output is computed inside the graph anyway (TopK needs it)
and is copied out only for a caller that asks for it by name.

Constant folding is left to ONNX Runtime at load time, so every initializer keeps its
PyTorch parameter name (the GRU gate reordering stays an op in the graph) and
:func:`rebuild_torch_model` can rebuild the PyTorch model from the artifact alone.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from onnx import numpy_helper
from torch import nn

from model_export import tokenizer
from model_export.graph_edits import append_top_k, quantize_int8
from model_export.model import ModelConfig, Seq2Seq

FORMAT_VERSION = 1
ENCODER_FILE, DECODER_FILE = "encoder.onnx", "decoder_step.onnx"
HEAD_FILE = "alignment_head.onnx"
SHORTLIST_DECODER_FILE = "decoder_step_shortlist.onnx"
OPSET = 17


class EncoderGraph(nn.Module):
    def __init__(self, model: Seq2Seq) -> None:
        super().__init__()
        self.encoder = model.encoder
        self.decoder = model.decoder
        self.model = [model]  # not a submodule: keeps parameter names as in Seq2Seq

    def forward(
        self, src_tokens: torch.Tensor, src_lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        annotations, keys, init_state, _ = self.model[0].encode(src_tokens, src_lengths)
        return annotations, keys, init_state


class DecoderStepGraph(nn.Module):
    def __init__(self, model: Seq2Seq) -> None:
        super().__init__()
        self.decoder = model.decoder
        self.model = [model]

    def forward(
        self,
        prev_tokens: torch.Tensor,
        state: torch.Tensor,
        annotations: torch.Tensor,
        keys: torch.Tensor,
        src_mask: torch.Tensor,
        gather_tokens: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        log_probs, new_state, alpha = self.model[0].step(
            prev_tokens, state, annotations, keys, src_mask
        )
        gathered = log_probs.gather(1, gather_tokens[:, None]).squeeze(1)
        return log_probs, new_state, alpha, gathered


class ShortlistStepGraph(DecoderStepGraph):
    """The decoder step scoring only the candidate rows of the output projection.

    Gather picks the C rows of the projection's weight and bias, one (B,O) x (O,C) product
    scores them, and the log-softmax runs over the candidates: a candidate's log-probability
    is renormalized over the candidates (as in Marian), the full one less a constant per row,
    the log of the candidates' share of the probability mass.
    """

    def forward(  # type: ignore[override]
        self,
        prev_tokens: torch.Tensor,
        state: torch.Tensor,
        annotations: torch.Tensor,
        keys: torch.Tensor,
        src_mask: torch.Tensor,
        gather_positions: torch.Tensor,
        candidates: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        features, new_state, alpha = self.decoder.step_features(
            prev_tokens, state, annotations, keys, src_mask
        )  # (B, O)
        projection = self.decoder.projection
        weight = projection.weight.index_select(0, candidates)  # (C, O)
        bias = projection.bias.index_select(0, candidates)  # (C,)
        logits = nn.functional.linear(features, weight, bias)  # (B, C): one Gemm, transB
        log_probs = torch.log_softmax(logits, dim=-1)
        gathered = log_probs.gather(1, gather_positions[:, None]).squeeze(1)
        return logits, log_probs, new_state, alpha, gathered


class AlignmentHeadGraph(nn.Module):
    def __init__(self, model: Seq2Seq) -> None:
        super().__init__()
        assert model.alignment_head is not None
        self.alignment_head = model.alignment_head

    def forward(
        self,
        annotations: torch.Tensor,
        src_mask: torch.Tensor,
        tgt_tokens: torch.Tensor,
        tgt_lengths: torch.Tensor,
    ) -> torch.Tensor:
        return self.alignment_head(annotations, src_mask, tgt_tokens, tgt_lengths)


def _example_inputs(
    config: ModelConfig,
) -> tuple[tuple[torch.Tensor, ...], tuple[torch.Tensor, ...]]:
    batch, length = 2, 5
    src = torch.randint(4, config.src_vocab_size, (batch, length))
    lengths = torch.tensor([length, 3])
    annotations = torch.randn(batch, length, 2 * config.encoder_hidden_size)
    keys = torch.randn(batch, length, config.attention_size)
    state = torch.randn(batch, config.decoder_hidden_size)
    mask = torch.arange(length)[None, :] < lengths[:, None]
    prev = torch.tensor([tokenizer.BOS_ID, tokenizer.BOS_ID])
    gather = torch.tensor([tokenizer.EOS_ID, tokenizer.EOS_ID])
    return (src, lengths), (prev, state, annotations, keys, mask, gather)


def export_onnx(model: Seq2Seq, out_dir: Path) -> None:
    """Write ``encoder.onnx`` and ``decoder_step.onnx`` with dynamic batch and length axes."""
    model.eval()
    out_dir.mkdir(parents=True, exist_ok=True)
    encoder_inputs, step_inputs = _example_inputs(model.config)
    with torch.no_grad():
        torch.onnx.export(
            EncoderGraph(model),
            encoder_inputs,
            str(out_dir / ENCODER_FILE),
            input_names=["src_tokens", "src_lengths"],
            output_names=["annotations", "keys", "init_state"],
            dynamic_axes={
                "src_tokens": {0: "batch", 1: "src_len"},
                "src_lengths": {0: "batch"},
                "annotations": {0: "batch", 1: "src_len"},
                "keys": {0: "batch", 1: "src_len"},
                "init_state": {0: "batch"},
            },
            opset_version=OPSET,
            do_constant_folding=False,
            dynamo=False,
        )
        torch.onnx.export(
            DecoderStepGraph(model),
            step_inputs,
            str(out_dir / DECODER_FILE),
            input_names=[
                "prev_tokens",
                "state",
                "annotations",
                "keys",
                "src_mask",
                "gather_tokens",
            ],
            output_names=["log_probs", "new_state", "attention", "gathered_log_probs"],
            dynamic_axes={
                "prev_tokens": {0: "batch"},
                "gather_tokens": {0: "batch"},
                "gathered_log_probs": {0: "batch"},
                "state": {0: "batch"},
                "annotations": {0: "batch", 1: "src_len"},
                "keys": {0: "batch", 1: "src_len"},
                "src_mask": {0: "batch", 1: "src_len"},
                "log_probs": {0: "batch"},
                "new_state": {0: "batch"},
                "attention": {0: "batch", 1: "src_len"},
            },
            opset_version=OPSET,
            do_constant_folding=False,
            dynamo=False,
        )
    if model.alignment_head is not None:
        export_alignment_head(model, out_dir)
    append_top_k(out_dir / DECODER_FILE)
    export_shortlist_step(model, out_dir)
    for name in graph_files(model.config):
        onnx.checker.check_model(str(out_dir / name))


def export_alignment_head(model: Seq2Seq, out_dir: Path) -> Path:
    """Write ``alignment_head.onnx``: (B,T,2H) annotations, source mask, target ids and
    lengths -> (B,U,T) alignment probabilities."""
    _, step_inputs = _example_inputs(model.config)
    _, _, annotations, _, mask, _ = step_inputs
    tgt_tokens = torch.randint(4, model.config.tgt_vocab_size, (2, 4))
    tgt_lengths = torch.tensor([4, 2])
    model.eval()
    with torch.no_grad():
        torch.onnx.export(
            AlignmentHeadGraph(model),
            (annotations, mask, tgt_tokens, tgt_lengths),
            str(out_dir / HEAD_FILE),
            input_names=["annotations", "src_mask", "tgt_tokens", "tgt_lengths"],
            output_names=["probabilities"],
            dynamic_axes={
                "annotations": {0: "batch", 1: "src_len"},
                "src_mask": {0: "batch", 1: "src_len"},
                "tgt_tokens": {0: "batch", 1: "tgt_len"},
                "tgt_lengths": {0: "batch"},
                "probabilities": {0: "batch", 1: "tgt_len", 2: "src_len"},
            },
            opset_version=OPSET,
            do_constant_folding=False,
            dynamo=False,
        )
    return out_dir / HEAD_FILE


def export_shortlist_step(model: Seq2Seq, out_dir: Path) -> Path:
    """Write ``decoder_step_shortlist.onnx`` (see the module docstring)."""
    model.eval()
    _, (prev, state, annotations, keys, mask, _) = _example_inputs(model.config)
    candidates = torch.tensor([tokenizer.EOS_ID, 5, 7, 11], dtype=torch.long)
    positions = torch.tensor([0, 0])
    path = out_dir / SHORTLIST_DECODER_FILE
    with torch.no_grad():
        torch.onnx.export(
            ShortlistStepGraph(model),
            (prev, state, annotations, keys, mask, positions, candidates),
            str(path),
            input_names=[
                "prev_tokens",
                "state",
                "annotations",
                "keys",
                "src_mask",
                "gather_positions",
                "candidates",
            ],
            output_names=["logits", "log_probs", "new_state", "attention", "gathered_log_probs"],
            dynamic_axes={
                "prev_tokens": {0: "batch"},
                "gather_positions": {0: "batch"},
                "candidates": {0: "candidates"},
                "gathered_log_probs": {0: "batch"},
                "state": {0: "batch"},
                "annotations": {0: "batch", 1: "src_len"},
                "keys": {0: "batch", 1: "src_len"},
                "src_mask": {0: "batch", 1: "src_len"},
                "logits": {0: "batch", 1: "candidates"},
                "log_probs": {0: "batch", 1: "candidates"},
                "new_state": {0: "batch"},
                "attention": {0: "batch", 1: "src_len"},
            },
            opset_version=OPSET,
            do_constant_folding=False,
            dynamo=False,
        )
    append_top_k(path, ids_from="candidates")
    onnx.checker.check_model(str(path))
    return path


def graph_files(config: ModelConfig) -> tuple[str, ...]:
    """The ONNX graphs of a model: encoder, decoder step and, if it has one, the head."""
    if config.alignment_head:
        return ENCODER_FILE, DECODER_FILE, HEAD_FILE
    return ENCODER_FILE, DECODER_FILE


def add_shortlist_step(artifact_dir: Path) -> None:
    """Give an artifact exported before the shortlist its shortlist step graph (fp32 and
    int8), made from the artifact's own initializers; the other graphs stay as they are."""
    export_shortlist_step(rebuild_torch_model(artifact_dir), artifact_dir)
    quantize_int8(artifact_dir, (SHORTLIST_DECODER_FILE,))
    config_path = artifact_dir / "model_config.json"
    config = json.loads(config_path.read_text())
    config["decoder_step_shortlist"] = SHORTLIST_DECODER_FILE
    config.setdefault("int8", {})["decoder_step_shortlist"] = f"int8/{SHORTLIST_DECODER_FILE}"
    config_path.write_text(json.dumps(config, indent=2) + "\n")


def rebuild_torch_model(artifact_dir: Path) -> Seq2Seq:
    """The PyTorch model of an artifact, from its ONNX initializers and config alone."""
    config = json.loads((artifact_dir / "model_config.json").read_text())
    model = Seq2Seq(ModelConfig(**config["model"]))
    state: dict[str, np.ndarray] = {}
    for name in graph_files(model.config):
        graph = onnx.load(str(artifact_dir / name))
        for init in graph.graph.initializer:
            state[init.name] = numpy_helper.to_array(init)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    if missing:
        raise ValueError(f"{artifact_dir}: no initializer for {missing}")
    model.load_state_dict({key: torch.from_numpy(np.array(state[key])) for key in expected})
    model.eval()
    return model


def write_artifact(model: Seq2Seq, data_dir: Path, out_dir: Path, metadata: dict[str, Any]) -> Path:
    """Export graphs, copy tokenizers and write ``model_config.json``."""
    export_onnx(model, out_dir)
    shutil.copyfile(data_dir / "source.model", out_dir / "source.spm")
    shutil.copyfile(data_dir / "target.model", out_dir / "target.spm")
    config = {
        "format_version": FORMAT_VERSION,
        "encoder": ENCODER_FILE,
        "decoder_step": DECODER_FILE,
        "decoder_step_shortlist": SHORTLIST_DECODER_FILE,
        "int8": {
            "encoder": f"int8/{ENCODER_FILE}",
            "decoder_step": f"int8/{DECODER_FILE}",
            "decoder_step_shortlist": f"int8/{SHORTLIST_DECODER_FILE}",
        },
        **({"alignment_head": HEAD_FILE} if model.alignment_head is not None else {}),
        "source_tokenizer": "source.spm",
        "target_tokenizer": "target.spm",
        "special_tokens": {
            "pad": tokenizer.PAD_ID,
            "unk": tokenizer.UNK_ID,
            "bos": tokenizer.BOS_ID,
            "eos": tokenizer.EOS_ID,
        },
        "model": model.config.to_dict(),
        **metadata,
    }
    (out_dir / "model_config.json").write_text(json.dumps(config, indent=2) + "\n")
    quantize_int8(out_dir, (ENCODER_FILE, DECODER_FILE, SHORTLIST_DECODER_FILE))
    return out_dir
