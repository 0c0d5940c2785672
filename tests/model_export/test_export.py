"""The ONNX artifact: parity with PyTorch, int8 graphs, rebuild from initializers, config."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from model_export.export import (
    DECODER_FILE,
    ENCODER_FILE,
    FORMAT_VERSION,
    HEAD_FILE,
    rebuild_torch_model,
)
from model_export.model import Seq2Seq
from model_export.parity import TOLERANCE, check_parity
from model_export.train import load_model
from service.inference.runtime import session_options

PAD, UNK, BOS, EOS = 0, 1, 2, 3


@pytest.fixture(scope="module")
def trained(tiny_run: Path) -> Seq2Seq:
    model, _ = load_model(tiny_run / "best.pt")
    return model


def session(path: Path) -> ort.InferenceSession:
    options = session_options(1, shared=False)  # the shared pool if a test has made it
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def source_batch(lengths: list[int], vocab: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Right-padded (B, T) tokens ending in EOS, and (B,) lengths."""
    rng = np.random.default_rng(seed)
    tokens = np.full((len(lengths), max(lengths)), PAD, dtype=np.int64)
    for row, n in enumerate(lengths):
        tokens[row, : n - 1] = rng.integers(4, vocab, size=n - 1)
        tokens[row, n - 1] = EOS
    return tokens, np.array(lengths, dtype=np.int64)


def test_parity_with_pytorch_and_batching(trained: Seq2Seq, tiny_artifact: Path) -> None:
    report = check_parity(trained, tiny_artifact)
    assert report.cases > 0
    assert report.max_log_prob_diff <= TOLERANCE <= 1e-4
    assert report.max_attention_diff <= 1e-4
    assert report.max_annotation_diff <= 1e-4
    assert trained.alignment_head is not None  # so the head graph was compared too
    assert report.max_head_diff <= 1e-4
    assert report.greedy_identical
    assert report.ok


def test_rebuilt_model_has_the_trained_weights(trained: Seq2Seq, tiny_artifact: Path) -> None:
    rebuilt = rebuild_torch_model(tiny_artifact)
    expected, actual = trained.state_dict(), rebuilt.state_dict()
    assert rebuilt.config == trained.config
    assert set(actual) == set(expected)
    for name, tensor in expected.items():
        assert torch.equal(actual[name], tensor), name


def test_initializers_keep_pytorch_parameter_names(trained: Seq2Seq, tiny_artifact: Path) -> None:
    names = {
        init.name
        for file in (ENCODER_FILE, DECODER_FILE, HEAD_FILE)
        for init in onnx.load(str(tiny_artifact / file)).graph.initializer
    }
    assert set(trained.state_dict()) <= names


def test_model_config_states_the_facts(trained: Seq2Seq, tiny_artifact: Path) -> None:
    config = json.loads((tiny_artifact / "model_config.json").read_text())
    assert config["format_version"] == FORMAT_VERSION == 1
    assert config["special_tokens"] == {"pad": PAD, "unk": UNK, "bos": BOS, "eos": EOS}
    assert config["model"] == trained.config.to_dict()
    assert config["model"]["embedding_size"] == 32
    assert config["model"]["attention"] is True
    assert (config["source_lang"], config["target_lang"]) == ("en", "es")
    for key in (
        "encoder",
        "decoder_step",
        "alignment_head",
        "source_tokenizer",
        "target_tokenizer",
    ):
        assert (tiny_artifact / config[key]).is_file(), key
    for key in ("encoder", "decoder_step"):
        assert (tiny_artifact / config["int8"][key]).is_file(), key


def test_artifact_holds_nothing_from_pytorch(tiny_artifact: Path) -> None:
    files = {
        p.relative_to(tiny_artifact).as_posix() for p in tiny_artifact.rglob("*") if p.is_file()
    }
    assert not [name for name in files if name.endswith((".pt", ".pth", ".ckpt"))]
    assert {
        "encoder.onnx",
        "decoder_step.onnx",
        "int8/encoder.onnx",
        "int8/decoder_step.onnx",
        "alignment_head.onnx",
        "source.spm",
        "target.spm",
        "model_config.json",
    } <= files


def test_int8_graphs_load_and_give_distributions(trained: Seq2Seq, tiny_artifact: Path) -> None:
    config = trained.config
    encoder = session(tiny_artifact / "int8" / ENCODER_FILE)
    decoder = session(tiny_artifact / "int8" / DECODER_FILE)
    op_types = {
        node.op_type
        for file in (ENCODER_FILE, DECODER_FILE)
        for node in onnx.load(str(tiny_artifact / "int8" / file)).graph.node
    }
    assert op_types & {"DynamicQuantizeLinear", "MatMulInteger", "DequantizeLinear"}

    tokens, lengths = source_batch([7, 3, 5], config.src_vocab_size)
    annotations, keys, state = encoder.run(None, {"src_tokens": tokens, "src_lengths": lengths})
    mask = np.arange(tokens.shape[1])[None, :] < lengths[:, None]
    feeds = {
        "prev_tokens": np.full(3, BOS, dtype=np.int64),
        "state": state,
        "annotations": annotations,
        "keys": keys,
        "src_mask": mask,
        "gather_tokens": np.full(3, EOS, dtype=np.int64),
        "top_k": np.array([4], dtype=np.int64),
    }
    wanted = {i.name for i in decoder.get_inputs()}
    log_probs, new_state, attention, top_log_probs = decoder.run(
        ["log_probs", "new_state", "attention", "top_log_probs"],
        {k: v for k, v in feeds.items() if k in wanted},
    )
    np.testing.assert_allclose(top_log_probs, -np.sort(-log_probs, axis=1)[:, :4])
    assert log_probs.shape == (3, config.tgt_vocab_size)
    assert np.isfinite(log_probs).all()
    assert np.allclose(np.exp(log_probs).sum(-1), 1.0, atol=1e-4)
    assert new_state.shape == (3, config.decoder_hidden_size)
    assert attention.shape == tokens.shape
    assert np.all(attention[~mask] == 0)


@pytest.mark.parametrize("batch", [1, 5])
@pytest.mark.parametrize("length", [3, 40])
def test_graphs_take_any_batch_and_length(
    trained: Seq2Seq, tiny_artifact: Path, batch: int, length: int
) -> None:
    config = trained.config
    lengths = [length] + [max(2, length - 3 * row) for row in range(1, batch)]
    tokens, src_lengths = source_batch(lengths, config.src_vocab_size, seed=batch * length)
    encoder = session(tiny_artifact / ENCODER_FILE)
    annotations, keys, state = encoder.run(None, {"src_tokens": tokens, "src_lengths": src_lengths})
    assert annotations.shape == (batch, length, 2 * config.encoder_hidden_size)
    assert keys.shape == (batch, length, config.attention_size)
    assert state.shape == (batch, config.decoder_hidden_size)
    with torch.no_grad():
        expected, *_ = trained.encode(torch.from_numpy(tokens), torch.from_numpy(src_lengths))
    assert np.allclose(annotations, expected.numpy(), atol=1e-5)

    decoder = session(tiny_artifact / DECODER_FILE)
    mask = np.arange(length)[None, :] < src_lengths[:, None]
    gather = np.arange(batch, dtype=np.int64) + 5
    log_probs, new_state, attention, gathered, top_log_probs, top_ids = decoder.run(
        None,
        {
            "prev_tokens": np.full(batch, BOS, dtype=np.int64),
            "state": state,
            "annotations": annotations,
            "keys": keys,
            "src_mask": mask,
            "gather_tokens": gather,
            "top_k": np.array([3], dtype=np.int64),
        },
    )
    np.testing.assert_array_equal(gathered, log_probs[np.arange(batch), gather])
    assert top_ids.shape == top_log_probs.shape == (batch, 3)
    np.testing.assert_array_equal(top_log_probs, np.take_along_axis(log_probs, top_ids, axis=1))
    np.testing.assert_array_equal(top_ids[:, 0], log_probs.argmax(axis=1))
    assert (np.diff(top_log_probs, axis=1) <= 0).all()
    assert log_probs.shape == (batch, config.tgt_vocab_size)
    assert new_state.shape == (batch, config.decoder_hidden_size)
    assert attention.shape == (batch, length)
    assert np.allclose(attention.sum(-1), 1.0, atol=1e-5)
    assert np.all(attention[~mask] == 0)
