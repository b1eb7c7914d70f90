"""HTR-JAND Studio engine: document model, formats, imaging, segmentation, recognition.

The engine imports neither Qt nor torch; `app` and `training` build on it.
"""

__version__ = "0.1.0"
