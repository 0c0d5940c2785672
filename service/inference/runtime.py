"""ONNX Runtime sessions for the encoder and the decoder step.

Numpy in, numpy out; the recurrent state goes into and out of every ``run``. Search fetches
only the step's top-k pieces, gathered log-probabilities, state and attention; the full
distribution is fetched only by :meth:`OnnxSeq2Seq.step_function`, for callers that need it.

With a lexical shortlist in the artifact, a step given candidate ids runs the shortlist step
graph: the output projection, log-softmax and top-k over those C pieces only, so its
log-probabilities are renormalized over the candidates. A step without candidates (forced
rows: exact log-probabilities) runs the full-vocabulary graph.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnxruntime as ort

from service.inference.artifact import ModelArtifact
from service.inference.shortlist import Shortlist
from service.inference.step import FullStepFunction, StepFunction, StepOutput, top_k

log = logging.getLogger(__name__)

DEVICES = ("auto", "cpu", "cuda")
CUDA_PROVIDER, CPU_PROVIDER = "CUDAExecutionProvider", "CPUExecutionProvider"
STEP_OUTPUTS = ["top_log_probs", "top_ids", "gathered_log_probs", "new_state", "attention"]


@dataclass(frozen=True)
class RuntimeOptions:
    device: str = "auto"  # auto: CUDA when onnxruntime-gpu sees a GPU, else CPU
    intra_op_threads: int = 0  # 0: ONNX Runtime's default (one per core)
    # One intra-op pool for the encoder, decoder step and alignment head of the process
    # (ONNX Runtime's global thread pool) instead of a pool per session. Its workers spin a
    # short while after each operator, so the next of a step's ~50 small operators does not
    # wait for a sleeping thread to wake (greedy at batch 1: 1.3x the sentences/s); with a
    # single pool only one set of workers spins. See :func:`session_options`.
    shared_threads: bool = True
    # Spinning of per-session pools (``shared_threads=False``): three pools spinning at
    # once starve the event loop and each other, so it is off unless measured to help.
    spin_threads: bool = False
    # Bind inputs and outputs (ONNX Runtime IO binding): the encoder inputs of a step are
    # placed on the device once per change of rows, and only the top-k, gathered
    # log-probabilities, state and attention come back. None: on for CUDA only.
    io_binding: bool | None = None
    # Decode free rows over the artifact's lexical shortlist when it has one (Marian's
    # shortlist); False (the default here; the service's NMT_SHORTLIST is on) scores the
    # whole vocabulary.
    shortlist: bool = False

    def __post_init__(self) -> None:
        if self.device not in DEVICES:
            raise ValueError(f"device must be one of {DEVICES}, not {self.device!r}")


_shared_pool_lock = threading.Lock()
_shared_pool_threads: int | None = None  # threads of the process's pool, once made


def session_options(threads: int, shared: bool, spin: bool = False) -> ort.SessionOptions:
    """Options for a CPU-threaded ONNX Runtime session of this process.

    ``shared``: run on ONNX Runtime's process-wide intra-op pool, made here with ``threads``
    threads (0: one per core) if the process has none yet. Once that pool exists ONNX
    Runtime refuses sessions with pools of their own, so every later session uses it,
    whatever it asks for. Otherwise the session gets ``threads`` threads of its own,
    spinning between operators only if ``spin``.
    """
    global _shared_pool_threads
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    with _shared_pool_lock:
        if _shared_pool_threads is None and shared:
            ort.set_global_thread_pool_sizes(threads, 1)
            _shared_pool_threads = threads
        if _shared_pool_threads is not None:
            if not shared or _shared_pool_threads != threads:
                log.info(
                    "the process shares one thread pool (%s threads); asked: %s threads%s",
                    _shared_pool_threads or "one per core",
                    threads or "one per core",
                    "" if shared else " of its own",
                )
            options.use_per_session_threads = False
            return options
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    allow = "1" if spin else "0"
    options.add_session_config_entry("session.intra_op.allow_spinning", allow)
    options.add_session_config_entry("session.inter_op.allow_spinning", allow)
    return options


EncoderFeeds = dict[str, Any]  # numpy arrays, or ONNX Runtime values placed on the device


@dataclass(frozen=True)
class EncodedBatch:
    annotations: np.ndarray  # (B, T, 2H)
    keys: np.ndarray  # (B, T, A): U h_j, computed once per sentence
    init_state: np.ndarray  # (B, D)
    mask: np.ndarray  # (B, T) bool, True at real source positions


def runtime_session_options(options: RuntimeOptions) -> ort.SessionOptions:
    return session_options(options.intra_op_threads, options.shared_threads, options.spin_threads)


def choose_providers(device: str) -> list[str]:
    available = ort.get_available_providers()
    if device == "cpu":
        return [CPU_PROVIDER]
    if CUDA_PROVIDER in available:
        return [CUDA_PROVIDER, CPU_PROVIDER]
    if device == "cuda":
        raise RuntimeError(
            "device 'cuda' requested but ONNX Runtime has no CUDA provider "
            f"(available: {available}); install onnxruntime-gpu"
        )
    return [CPU_PROVIDER]


class OnnxSeq2Seq:
    """The exported encoder and decoder step, run by ONNX Runtime."""

    def __init__(self, artifact: ModelArtifact, options: RuntimeOptions = RuntimeOptions()):
        session_options = runtime_session_options(options)
        self.shared_threads = not session_options.use_per_session_threads
        providers = choose_providers(options.device)
        try:
            self.encoder = ort.InferenceSession(
                str(artifact.encoder_path), session_options, providers=providers
            )
        except Exception as error:  # ORT raises its own untyped errors
            raise RuntimeError(f"{artifact.encoder_path}: cannot load ({error})") from error
        try:
            self.decoder = ort.InferenceSession(
                str(artifact.decoder_step_path), session_options, providers=providers
            )
        except Exception as error:
            raise RuntimeError(f"{artifact.decoder_step_path}: cannot load ({error})") from error
        self.head: ort.InferenceSession | None = None
        if artifact.alignment_head_path is not None:
            try:
                self.head = ort.InferenceSession(
                    str(artifact.alignment_head_path), session_options, providers=providers
                )
            except Exception as error:
                raise RuntimeError(
                    f"{artifact.alignment_head_path}: cannot load ({error})"
                ) from error
        self.shortlist: Shortlist | None = None
        self.shortlist_decoder: ort.InferenceSession | None = None
        shortlist_path, shortlist_graph = (
            artifact.shortlist_path,
            artifact.decoder_step_shortlist_path,
        )
        if options.shortlist and shortlist_path is not None and shortlist_graph is not None:
            vocabulary = int(artifact.sizes["tgt_vocab_size"])
            self.shortlist = Shortlist.load(shortlist_path, vocabulary)
            try:
                self.shortlist_decoder = ort.InferenceSession(
                    str(shortlist_graph), session_options, providers=providers
                )
            except Exception as error:
                raise RuntimeError(f"{shortlist_graph}: cannot load ({error})") from error
        # A graph drops inputs it does not use (the no-attention baseline has no keys).
        self.decoder_inputs = {i.name for i in self.decoder.get_inputs()}
        # Graphs exported before the step ended in TopK: the top-k is taken in numpy.
        self.has_top_k = "top_k" in self.decoder_inputs
        self.provider = self.decoder.get_providers()[0]
        on_cuda = self.provider == CUDA_PROVIDER
        self.io_binding = on_cuda if options.io_binding is None else options.io_binding
        self._device = ("cuda", 0) if on_cuda else ("cpu", 0)
        if (
            options.device == "auto"
            and CUDA_PROVIDER in ort.get_available_providers()
            and self.provider != CUDA_PROVIDER
        ):
            log.warning("CUDA provider available but not usable; running on CPU")
        log.info("ONNX Runtime %s with %s", ort.__version__, self.provider)

    def use_shortlist(self, shortlist: Shortlist | None) -> None:
        """Decode free rows over another shortlist (None: the full vocabulary), e.g. to
        compare settings; needs an artifact with a shortlist, its step graph loaded."""
        if shortlist is not None and self.shortlist_decoder is None:
            raise RuntimeError("this artifact has no shortlist step graph (or it is turned off)")
        self.shortlist = shortlist

    def encode(self, src_tokens: np.ndarray, src_lengths: np.ndarray) -> EncodedBatch:
        annotations, keys, init_state = self.encoder.run(
            None, {"src_tokens": src_tokens, "src_lengths": src_lengths}
        )
        mask = np.arange(src_tokens.shape[1])[None, :] < src_lengths[:, None]
        return EncodedBatch(annotations, keys, init_state, mask)

    def align_words(
        self, encoded: EncodedBatch, targets: list[list[int]], pad: int
    ) -> list[np.ndarray]:
        """The alignment head's probabilities for each sentence of ``encoded`` and its
        target ids (ending with EOS): one (len(target), source length) matrix each."""
        if self.head is None:
            raise RuntimeError("this model has no alignment head")
        lengths = np.array([len(target) for target in targets], dtype=np.int64)
        tokens = np.full((len(targets), int(lengths.max())), pad, dtype=np.int64)
        for row, target in enumerate(targets):
            tokens[row, : len(target)] = target
        (probabilities,) = self.head.run(
            None,
            {
                "annotations": encoded.annotations,
                "src_mask": encoded.mask,
                "tgt_tokens": tokens,
                "tgt_lengths": lengths,
            },
        )
        source_lengths = encoded.mask.sum(axis=1)
        return [
            probabilities[row, : lengths[row], : source_lengths[row]] for row in range(len(targets))
        ]

    def _encoder_feeds(self, encoded: EncodedBatch, rows: np.ndarray) -> dict[str, np.ndarray]:
        gathered = {
            "annotations": encoded.annotations,
            "keys": encoded.keys,
            "src_mask": encoded.mask,
        }
        return {
            name: np.ascontiguousarray(value[rows])
            for name, value in gathered.items()
            if name in self.decoder_inputs
        }

    def step_function(self, encoded: EncodedBatch) -> FullStepFunction:
        """A decoder step over ``encoded`` that returns the full (N, V) log-probabilities."""
        cached_rows: np.ndarray | None = None
        feeds: dict[str, np.ndarray] = {}

        def step(
            prev_tokens: np.ndarray, state: np.ndarray, rows: np.ndarray
        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            nonlocal cached_rows
            if cached_rows is None or not np.array_equal(rows, cached_rows):
                cached_rows = rows.copy()
                feeds.update(self._encoder_feeds(encoded, rows))
            feeds["prev_tokens"] = prev_tokens
            feeds["state"] = np.ascontiguousarray(state, dtype=np.float32)
            if self.has_top_k:
                feeds["gather_tokens"] = prev_tokens
                feeds["top_k"] = np.ones(1, dtype=np.int64)
            log_probs, new_state, attention = self.decoder.run(
                ["log_probs", "new_state", "attention"], feeds
            )
            return log_probs, new_state, attention

        return step

    def place(self, encoder_feeds: dict[str, np.ndarray]) -> EncoderFeeds:
        """Encoder inputs of a step where the decoder runs: with IO binding, copied to the
        device once here (per change of rows), not at every step."""
        if not self.io_binding or not self.has_top_k:
            return dict(encoder_feeds)
        device, index = self._device
        return {
            name: ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(value), device, index)
            for name, value in encoder_feeds.items()
        }

    def run_step(
        self,
        encoder_feeds: EncoderFeeds,
        prev_tokens: np.ndarray,
        state: np.ndarray,
        gather: np.ndarray,
        k: int,
        candidates: np.ndarray | None = None,
    ) -> StepOutput:
        """One decoder step that brings back only the top-k of each row, the gathered
        log-probabilities, the state and the attention (never the distribution).

        ``candidates``: sorted (C,) int64 target ids holding every gather token; the step
        then scores only those (the shortlist graph), renormalized over them.
        """
        if candidates is not None and self.shortlist_decoder is not None:
            positions = np.searchsorted(candidates, gather)
            if np.all(positions < candidates.size) and np.array_equal(
                candidates[np.minimum(positions, candidates.size - 1)], gather
            ):
                feeds = {
                    "prev_tokens": prev_tokens,
                    "state": np.ascontiguousarray(state, dtype=np.float32),
                    "gather_positions": positions.astype(np.int64),
                    "candidates": candidates,
                    "top_k": np.array([min(k, candidates.size)], dtype=np.int64),
                }
                return StepOutput(*self._run(self.shortlist_decoder, encoder_feeds, feeds))
        step_feeds = {
            "prev_tokens": prev_tokens,
            "state": np.ascontiguousarray(state, dtype=np.float32),
            "gather_tokens": gather,
            "top_k": np.array([k], dtype=np.int64),
        }
        if not self.has_top_k:
            feeds = {**encoder_feeds, "prev_tokens": prev_tokens, "state": step_feeds["state"]}
            log_probs, new_state, attention = self.decoder.run(
                ["log_probs", "new_state", "attention"], feeds
            )
            values, ids = top_k(log_probs, k)
            gathered = log_probs[np.arange(gather.size), gather]
            return StepOutput(values, ids, gathered, new_state, attention)
        return StepOutput(*self._run(self.decoder, encoder_feeds, step_feeds))

    def _run(
        self,
        session: ort.InferenceSession,
        encoder_feeds: EncoderFeeds,
        step_feeds: dict[str, np.ndarray],
    ) -> list[np.ndarray]:
        """The step outputs of ``session``, bound (IO binding) when that is on."""
        if not self.io_binding:
            return list(session.run(STEP_OUTPUTS, {**encoder_feeds, **step_feeds}))
        binding = session.io_binding()
        for name, value in encoder_feeds.items():
            if isinstance(value, ort.OrtValue):
                binding.bind_ortvalue_input(name, value)
            else:
                binding.bind_cpu_input(name, value)
        for name, array in step_feeds.items():
            binding.bind_cpu_input(name, array)
        for name in STEP_OUTPUTS:  # log_probs is not bound: it never leaves the device
            binding.bind_output(name, "cpu")
        session.run_with_iobinding(binding)
        return list(binding.copy_outputs_to_cpu())

    def top_k_step_function(
        self, encoded: EncodedBatch, candidates: np.ndarray | None = None
    ) -> StepFunction:
        """A search step over ``encoded``: the top-k of each row, not the distribution. The
        per-row encoder outputs are gathered only when the set of rows changes. With
        ``candidates`` (sorted target ids), every step scores only those."""
        cached_rows: np.ndarray | None = None
        encoder_feeds: EncoderFeeds = {}

        def step(
            prev_tokens: np.ndarray, state: np.ndarray, rows: np.ndarray, gather: np.ndarray, k: int
        ) -> StepOutput:
            nonlocal cached_rows, encoder_feeds
            if cached_rows is None or not np.array_equal(rows, cached_rows):
                cached_rows = rows.copy()
                encoder_feeds = self.place(self._encoder_feeds(encoded, rows))
            return self.run_step(encoder_feeds, prev_tokens, state, gather, k, candidates)

        return step
