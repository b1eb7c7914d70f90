"""Training of the HTR-JAND recognizer (needs PyTorch): network, data, curriculum, distillation,
ONNX export. The engine never imports this package."""
