"""The RNNsearch model of Bahdanau, Cho and Bengio (2015), and its RNNenc baseline.

Shapes: B batch, T source length, E embedding size, H encoder hidden size per
direction, D decoder hidden size, A attention size, V target vocabulary.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import torch
from torch import nn


@dataclass(frozen=True)
class ModelConfig:
    src_vocab_size: int
    tgt_vocab_size: int
    embedding_size: int = 256  # E, source and target embeddings
    encoder_hidden_size: int = 256  # H, per direction: annotations are 2H wide
    decoder_hidden_size: int = 256  # D
    attention_size: int = 256  # A, the hidden layer of the alignment model
    output_size: int = 256  # width of the deep-output layer before the softmax
    dropout: float = 0.3
    attention: bool = True  # False: the RNNenc baseline, one fixed context vector
    pad_id: int = 0
    alignment_head: bool = False  # a separate word-alignment head (AlignmentHead)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


class Encoder(nn.Module):
    """Bidirectional GRU giving annotations h_j = [h_j^fwd; h_j^bwd].

    The backward direction runs over each row's own tokens reversed, so padding never
    enters a state: a sentence inside a padded batch is encoded exactly as alone.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.embedding = nn.Embedding(
            config.src_vocab_size, config.embedding_size, padding_idx=config.pad_id
        )
        self.forward_rnn = nn.GRU(
            config.embedding_size, config.encoder_hidden_size, batch_first=True
        )
        self.backward_rnn = nn.GRU(
            config.embedding_size, config.encoder_hidden_size, batch_first=True
        )
        self.dropout = nn.Dropout(config.dropout)

    def forward(
        self, src_tokens: torch.Tensor, src_lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T) tokens, (B,) lengths -> (B, T, 2H) annotations, zero at padding, and the
        (B, T) source mask, True at real positions."""
        positions = torch.arange(src_tokens.shape[1], device=src_tokens.device)[None, :]
        mask = positions < src_lengths[:, None]  # (B, T)
        # Index that reverses the first L_b positions of row b and keeps the padding in place.
        reverse = torch.where(mask, src_lengths[:, None] - 1 - positions, positions)
        embedded = self.dropout(self.embedding(src_tokens))  # (B, T, E)
        forward_states, _ = self.forward_rnn(embedded)
        reversed_input = torch.gather(embedded, 1, reverse[:, :, None].expand_as(embedded))
        backward_states, _ = self.backward_rnn(reversed_input)
        backward_states = torch.gather(
            backward_states, 1, reverse[:, :, None].expand_as(backward_states)
        )
        annotations = torch.cat([forward_states, backward_states], dim=-1)
        return annotations * mask[:, :, None].to(annotations.dtype), mask


class BahdanauAttention(nn.Module):
    """Additive attention: e_ij = v^T tanh(W s_{i-1} + U h_j), softmax over real positions."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.key_layer = nn.Linear(
            2 * config.encoder_hidden_size, config.attention_size, bias=False
        )  # U
        self.query_layer = nn.Linear(
            config.decoder_hidden_size, config.attention_size, bias=True
        )  # W (with the bias of the alignment MLP)
        self.energy_layer = nn.Linear(config.attention_size, 1, bias=False)  # v

    def project_keys(self, annotations: torch.Tensor) -> torch.Tensor:
        """U h_j for all j, computed once per sentence: (B, T, 2H) -> (B, T, A)."""
        return self.key_layer(annotations)

    def forward(
        self,
        state: torch.Tensor,
        keys: torch.Tensor,
        annotations: torch.Tensor,
        src_mask: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, D) s_{i-1} -> context (B, 2H) and weights alpha_i (B, T)."""
        query = self.query_layer(state)[:, None, :]  # (B, 1, A)
        energies = self.energy_layer(torch.tanh(query + keys)).squeeze(-1)  # (B, T)
        energies = energies.masked_fill(~src_mask, float("-inf"))
        alpha = torch.softmax(energies, dim=-1)
        context = torch.bmm(alpha[:, None, :], annotations).squeeze(1)
        return context, alpha


class Decoder(nn.Module):
    """GRU decoder: s_i = GRU(s_{i-1}, [E y_{i-1}; c_i]), p(y_i) = g(y_{i-1}, s_i, c_i)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        context_size = 2 * config.encoder_hidden_size
        self.embedding = nn.Embedding(
            config.tgt_vocab_size, config.embedding_size, padding_idx=config.pad_id
        )
        self.attention = BahdanauAttention(config)
        self.init_layer = nn.Linear(config.encoder_hidden_size, config.decoder_hidden_size)
        self.cell = nn.GRUCell(config.embedding_size + context_size, config.decoder_hidden_size)
        self.output_layer = nn.Linear(
            config.decoder_hidden_size + config.embedding_size + context_size, config.output_size
        )
        self.projection = nn.Linear(config.output_size, config.tgt_vocab_size)
        self.dropout = nn.Dropout(config.dropout)

    def initial_state(self, annotations: torch.Tensor) -> torch.Tensor:
        """s_0 = tanh(W_s h_1^bwd), as in the paper: (B, T, 2H) -> (B, D)."""
        backward_first = annotations[:, 0, self.config.encoder_hidden_size :]
        return torch.tanh(self.init_layer(backward_first))

    def fixed_context(self, annotations: torch.Tensor, src_mask: torch.Tensor) -> torch.Tensor:
        """RNNenc's single context vector: [h_T^fwd; h_1^bwd] for each row's own T."""
        hidden = self.config.encoder_hidden_size
        last = (src_mask.sum(dim=1) - 1).clamp(min=0)  # (B,)
        rows = torch.arange(annotations.shape[0], device=annotations.device)
        return torch.cat([annotations[rows, last, :hidden], annotations[:, 0, hidden:]], dim=-1)

    def step_features(
        self,
        prev_tokens: torch.Tensor,
        state: torch.Tensor,
        annotations: torch.Tensor,
        keys: torch.Tensor,
        src_mask: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One step up to the layer before the vocabulary projection.

        Returns the output features (B, O), the new state s_i (B, D) and alpha_i (B, T).
        """
        embedded = self.dropout(self.embedding(prev_tokens))  # (B, E)
        if self.config.attention:
            context, alpha = self.attention(state, keys, annotations, src_mask)
        else:
            context = self.fixed_context(annotations, src_mask)
            alpha = src_mask.to(annotations.dtype) / src_mask.sum(dim=1, keepdim=True)
        new_state = self.cell(torch.cat([embedded, context], dim=-1), state)
        features = torch.tanh(self.output_layer(torch.cat([new_state, embedded, context], -1)))
        return self.dropout(features), new_state, alpha


class AlignmentHead(nn.Module):
    """Word alignment that sees the word it aligns (after Zenkel et al. 2019).

    The model's alpha_i is computed from s_{i-1}, before y_i is chosen: it predicts where
    the next word comes from. This head scores every (target piece y_i, source position j)
    pair with a query that sees y_i itself and its context in both directions (a
    bidirectional GRU over the target embeddings) against a key made from the model's
    annotation h_j: p_ij = softmax_j(q_i . k_j / sqrt(A)), each side a two-layer MLP.
    Trained towards a word aligner's links; it never feeds the decoder, so translations do
    not depend on it.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        # The target sentence gets its own bidirectional GRU, padding-exact like the encoder.
        self.target_encoder = Encoder(replace(config, src_vocab_size=config.tgt_vocab_size))
        size = config.attention_size
        self.query_layer = nn.Sequential(
            nn.Linear(2 * config.encoder_hidden_size + config.embedding_size, size),
            nn.Tanh(),
            nn.Linear(size, size),
        )
        self.key_layer = nn.Sequential(
            nn.Linear(2 * config.encoder_hidden_size, size), nn.Tanh(), nn.Linear(size, size)
        )
        self.scale = size**-0.5

    def forward(
        self,
        annotations: torch.Tensor,
        src_mask: torch.Tensor,
        tgt_tokens: torch.Tensor,
        tgt_lengths: torch.Tensor,
    ) -> torch.Tensor:
        """(B,T,2H) annotations, (B,T) mask, (B,U) emitted tokens y_1..y_U (the last one
        ``</s>``), (B,) lengths -> (B,U,T) alignment probabilities, rows summing to 1."""
        target_states, _ = self.target_encoder(tgt_tokens, tgt_lengths)  # (B, U, 2H)
        embedded = self.target_encoder.embedding(tgt_tokens)  # (B, U, E)
        query = self.query_layer(torch.cat([target_states, embedded], dim=-1))  # (B, U, A)
        keys = self.key_layer(annotations)  # (B, T, A)
        energies = torch.bmm(query, keys.transpose(1, 2)) * self.scale  # (B, U, T)
        energies = energies.masked_fill(~src_mask[:, None, :], float("-inf"))
        return torch.softmax(energies, dim=-1)


@dataclass
class TeacherForced:
    """What a teacher-forced pass computes: (B,U,V) logits, (B,U,T) alpha, annotations."""

    logits: torch.Tensor
    attention: torch.Tensor
    annotations: torch.Tensor
    src_mask: torch.Tensor


class Seq2Seq(nn.Module):
    """Encoder, attention and decoder; the training forward pass uses teacher forcing."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)
        self.alignment_head = AlignmentHead(config) if config.alignment_head else None

    def encode(
        self, src_tokens: torch.Tensor, src_lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Annotations (B,T,2H), keys U h (B,T,A), s_0 (B,D) and the source mask (B,T)."""
        annotations, mask = self.encoder(src_tokens, src_lengths)
        keys = self.decoder.attention.project_keys(annotations)
        return annotations, keys, self.decoder.initial_state(annotations), mask

    def step(
        self,
        prev_tokens: torch.Tensor,
        state: torch.Tensor,
        annotations: torch.Tensor,
        keys: torch.Tensor,
        src_mask: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One decoder step: log-probabilities (B,V), s_i (B,D), alpha_i (B,T)."""
        features, new_state, alpha = self.decoder.step_features(
            prev_tokens, state, annotations, keys, src_mask
        )
        log_probs = torch.log_softmax(self.decoder.projection(features), dim=-1)
        return log_probs, new_state, alpha

    def teacher_forced(
        self, src_tokens: torch.Tensor, src_lengths: torch.Tensor, tgt_input: torch.Tensor
    ) -> TeacherForced:
        """Teacher-forced pass over target inputs (B, U) starting with BOS."""
        annotations, keys, state, mask = self.encode(src_tokens, src_lengths)
        features, alphas = [], []
        for i in range(tgt_input.shape[1]):
            step_features, state, alpha = self.decoder.step_features(
                tgt_input[:, i], state, annotations, keys, mask
            )
            features.append(step_features)
            alphas.append(alpha)
        logits = self.decoder.projection(torch.stack(features, dim=1))
        return TeacherForced(logits, torch.stack(alphas, dim=1), annotations, mask)

    def forward(
        self, src_tokens: torch.Tensor, src_lengths: torch.Tensor, tgt_input: torch.Tensor
    ) -> torch.Tensor:
        """Teacher-forced logits (B, U, V) for target inputs (B, U) starting with BOS."""
        return self.teacher_forced(src_tokens, src_lengths, tgt_input).logits
