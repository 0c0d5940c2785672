"""The bundled weights in PyTorch eager mode, one request at a time, as a plain PyTorch
server would decode them: the baseline of ``bench.load``. Needs the ``train`` extra."""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np


def _torch_step(model: Any, encoded: tuple[Any, Any, Any], tensor: Any) -> Any:
    """A full-distribution step of the PyTorch model over one encoded sentence."""
    import torch

    annotations, keys, mask = encoded

    def step(
        prev: np.ndarray, state: np.ndarray, rows: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        index = tensor(rows)
        with torch.no_grad():
            log_probs, new_state, alpha = model.step(
                tensor(prev), tensor(state), annotations[index], keys[index], mask[index]
            )
        return log_probs.cpu().numpy(), new_state.cpu().numpy(), alpha.cpu().numpy()

    return step


def torch_eager(
    model_dir: Path,
    sentences: list[str],
    beam: int,
    requests: int,
    threads: int,
    device: str = "cpu",
) -> dict[str, Any]:
    """The same weights in PyTorch eager mode, one request at a time, on ``device``; the
    search is the service's own, over a step that returns the full distribution."""
    import torch

    from model_export.export import rebuild_torch_model
    from service.inference.artifact import load_artifact
    from service.inference.search import SearchOptions, beam_search
    from service.inference.step import top_k_step
    from service.inference.tokenizer import Tokenizer

    torch.set_num_threads(threads)
    artifact = load_artifact(model_dir)
    tokenizer = Tokenizer(
        artifact.source_tokenizer_path, artifact.target_tokenizer_path, artifact.special_tokens.eos
    )
    model = rebuild_torch_model(model_dir).to(device)
    special = artifact.special_tokens

    def tensor(values: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(values)).to(device)

    def translate(text: str) -> list[int]:
        ids = tokenizer.encode_source(text).ids
        with torch.no_grad():
            annotations, keys, init_state, mask = model.encode(
                tensor(np.array([ids])), tensor(np.array([len(ids)]))
            )
        step = _torch_step(model, (annotations, keys, mask), tensor)
        hyps = beam_search(
            top_k_step(step),
            init_state.cpu().numpy(),
            [len(ids)],
            special.bos,
            special.eos,
            SearchOptions(beam_size=beam),
        )
        tokenizer.decode_target(hyps[0][0].tokens)
        return hyps[0][0].tokens

    translate(sentences[0])  # warm: PyTorch's first calls set up its kernels
    latencies, tokens = [], 0
    for n in range(requests):
        start = time.perf_counter()
        tokens += len(translate(sentences[n % len(sentences)]))
        latencies.append(time.perf_counter() - start)
    total = sum(latencies)
    return {
        "beam": beam,
        "device": device,
        "requests_per_s": requests / total,
        "target_tokens_per_s": tokens / total,
        "p50_ms": statistics.median(latencies) * 1000,
    }
