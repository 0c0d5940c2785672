"""Train, evaluate and export the Bahdanau et al. (2015) attention model to ONNX."""
