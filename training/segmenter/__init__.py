"""The learned part of segmentation: a line verifier trained on the ground truth of the
training splits (candidate lines of the classical segmenter, labelled by the ground-truth
baselines), exported to ONNX for ``engine.segmentation.verify``."""
