"""Shapes and masking of the RNNsearch model and its RNNenc baseline."""

from __future__ import annotations

import pytest
import torch

from model_export.model import ModelConfig, Seq2Seq

# Distinct sizes, so that a swapped dimension shows up as a wrong shape.
SRC_VOCAB, TGT_VOCAB = 31, 27
E, H, D, A, OUT = 8, 6, 7, 5, 9  # embedding, encoder, decoder, attention, output
LENGTHS = [5, 2, 7, 1]
BOS = 2


def make_model(attention: bool) -> Seq2Seq:
    torch.manual_seed(0)
    config = ModelConfig(
        SRC_VOCAB,
        TGT_VOCAB,
        embedding_size=E,
        encoder_hidden_size=H,
        decoder_hidden_size=D,
        attention_size=A,
        output_size=OUT,
        dropout=0.0,
        attention=attention,
    )
    return Seq2Seq(config).eval()


def padded_batch() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    lengths = torch.tensor(LENGTHS)
    tokens = torch.zeros(len(LENGTHS), max(LENGTHS), dtype=torch.long)
    for row, n in enumerate(LENGTHS):
        tokens[row, :n] = torch.randint(4, SRC_VOCAB, (n,), generator=generator)
    return tokens, lengths


def target_prefix(batch: int, steps: int = 4) -> torch.Tensor:
    generator = torch.Generator().manual_seed(2)
    targets = torch.randint(4, TGT_VOCAB, (batch, steps), generator=generator)
    targets[:, 0] = BOS
    return targets


def teacher_forced(
    model: Seq2Seq, tokens: torch.Tensor, lengths: torch.Tensor, targets: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Annotations (B,T,2H), log-probs (B,U,V) and attention (B,U,T) along ``targets``."""
    with torch.no_grad():
        annotations, keys, state, mask = model.encode(tokens, lengths)
        log_probs, attention = [], []
        for i in range(targets.shape[1]):
            lp, state, alpha = model.step(targets[:, i], state, annotations, keys, mask)
            log_probs.append(lp)
            attention.append(alpha)
    return annotations, torch.stack(log_probs, 1), torch.stack(attention, 1)


@pytest.fixture(params=[True, False], ids=["attention", "rnnenc"])
def model(request: pytest.FixtureRequest) -> Seq2Seq:
    return make_model(attention=request.param)


def test_encode_shapes_and_zero_padding(model: Seq2Seq) -> None:
    tokens, lengths = padded_batch()
    batch, length = tokens.shape
    with torch.no_grad():
        annotations, keys, state, mask = model.encode(tokens, lengths)
    assert annotations.shape == (batch, length, 2 * H)
    assert keys.shape == (batch, length, A)
    assert state.shape == (batch, D)
    assert mask.tolist() == [[j < n for j in range(length)] for n in LENGTHS]
    for row, n in enumerate(LENGTHS):
        assert torch.all(annotations[row, n:] == 0)
        assert torch.all(annotations[row, :n].abs().sum(-1) > 0)


def test_step_gives_distributions(model: Seq2Seq) -> None:
    tokens, lengths = padded_batch()
    batch, length = tokens.shape
    with torch.no_grad():
        annotations, keys, state, mask = model.encode(tokens, lengths)
        prev = torch.full((batch,), BOS)
        log_probs, new_state, alpha = model.step(prev, state, annotations, keys, mask)
    assert log_probs.shape == (batch, TGT_VOCAB)
    assert new_state.shape == (batch, D)
    assert alpha.shape == (batch, length)
    assert torch.allclose(log_probs.exp().sum(-1), torch.ones(batch), atol=1e-5)
    assert torch.allclose(alpha.sum(-1), torch.ones(batch), atol=1e-6)
    assert torch.all(alpha >= 0)
    for row, n in enumerate(LENGTHS):
        assert torch.all(alpha[row, n:] == 0), "padding received attention"
        assert torch.all(alpha[row, :n] > 0)


def test_forward_gives_teacher_forced_logits(model: Seq2Seq) -> None:
    tokens, lengths = padded_batch()
    targets = target_prefix(len(LENGTHS))
    with torch.no_grad():
        logits = model(tokens, lengths, targets)
    _, log_probs, _ = teacher_forced(model, tokens, lengths, targets)
    assert logits.shape == (len(LENGTHS), targets.shape[1], TGT_VOCAB)
    assert torch.allclose(torch.log_softmax(logits, -1), log_probs, atol=1e-5)


@pytest.mark.parametrize("row", range(len(LENGTHS)))
def test_padded_batch_matches_sentence_alone(model: Seq2Seq, row: int) -> None:
    tokens, lengths = padded_batch()
    targets = target_prefix(len(LENGTHS))
    n = LENGTHS[row]
    batched = teacher_forced(model, tokens, lengths, targets)
    alone = teacher_forced(
        model, tokens[row : row + 1, :n], lengths[row : row + 1], targets[row : row + 1]
    )
    annotations, log_probs, attention = batched
    assert torch.allclose(annotations[row, :n], alone[0][0], atol=1e-5)
    assert torch.allclose(log_probs[row], alone[1][0], atol=1e-5)
    assert torch.allclose(attention[row, :, :n], alone[2][0], atol=1e-5)
    assert torch.all(attention[row, :, n:] == 0)


def test_backward_direction_starts_at_each_sentence_own_last_token() -> None:
    """h_j^bwd of a short sentence must not depend on what the padding holds."""
    model = make_model(attention=True)
    tokens, lengths = padded_batch()
    junk = tokens.clone()
    for row, n in enumerate(LENGTHS):
        junk[row, n:] = 5  # a real token id where padding belongs
    with torch.no_grad():
        clean, *_ = model.encode(tokens, lengths)
        dirty, *_ = model.encode(junk, lengths)
    assert torch.allclose(clean, dirty, atol=1e-6)


def _captured_contexts(model: Seq2Seq, states: list[torch.Tensor]) -> list[torch.Tensor]:
    """The context c_i fed to the decoder GRU cell, one per decoder state in ``states``."""
    tokens, lengths = padded_batch()
    contexts: list[torch.Tensor] = []

    def capture(_module: torch.nn.Module, inputs: tuple[torch.Tensor, ...], _output: object):
        contexts.append(inputs[0][:, E:].clone())

    handle = model.decoder.cell.register_forward_hook(capture)
    try:
        with torch.no_grad():
            annotations, keys, _, mask = model.encode(tokens, lengths)
            prev = torch.full((len(LENGTHS),), BOS)
            for state in states:
                model.step(prev, state, annotations, keys, mask)
    finally:
        handle.remove()
    return contexts


def _two_states() -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(3)
    return [torch.randn(len(LENGTHS), D, generator=generator) for _ in range(2)]


def test_baseline_context_is_fixed_and_attention_uniform() -> None:
    model = make_model(attention=False)
    tokens, lengths = padded_batch()
    first, second = _captured_contexts(model, _two_states())
    assert torch.equal(first, second)
    with torch.no_grad():
        annotations, keys, state, mask = model.encode(tokens, lengths)
        _, _, alpha = model.step(torch.full((len(LENGTHS),), BOS), state, annotations, keys, mask)
    for row, n in enumerate(LENGTHS):
        # [h_T^fwd; h_1^bwd] with each sentence's own last position T.
        expected = torch.cat([annotations[row, n - 1, :H], annotations[row, 0, H:]])
        assert torch.allclose(first[row], expected)
        assert torch.allclose(alpha[row, :n], torch.full((n,), 1 / n))
        assert torch.all(alpha[row, n:] == 0)


def test_attention_context_follows_the_decoder_state() -> None:
    model = make_model(attention=True)
    first, second = _captured_contexts(model, _two_states())
    multi_token_rows = [row for row, n in enumerate(LENGTHS) if n > 1]
    assert not torch.allclose(first[multi_token_rows], second[multi_token_rows])
    # A one-token sentence can only attend to that token.
    one_token_rows = [row for row, n in enumerate(LENGTHS) if n == 1]
    assert torch.allclose(first[one_token_rows], second[one_token_rows])


def test_attention_context_is_the_weighted_sum_of_annotations() -> None:
    model = make_model(attention=True)
    tokens, lengths = padded_batch()
    with torch.no_grad():
        annotations, keys, state, mask = model.encode(tokens, lengths)
        context, alpha = model.decoder.attention(state, keys, annotations, mask)
    assert context.shape == (len(LENGTHS), 2 * H)
    assert torch.allclose(context, torch.einsum("bt,bth->bh", alpha, annotations), atol=1e-6)
