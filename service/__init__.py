"""HTTP translation service over the exported Bahdanau attention model (ONNX Runtime)."""
