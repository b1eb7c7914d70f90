"""The T5 post-corrector: training pairs with the recognizer's real errors (``pairs``), synthetic
noise from its measured confusions (``noise``), training from scratch (``train``), threshold
tuning on the val splits (``tune``) and ONNX export (``export``)."""
