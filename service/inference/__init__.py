"""Inference: artifact loading, tokenization, ONNX Runtime sessions, search, batching."""
