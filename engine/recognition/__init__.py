"""Line recognition with exported HTR-JAND models (ONNX Runtime): ``Recognizer``,
``LineResult`` and CTC decoding."""

from engine.recognition.ctc import beam_decode, greedy_decode
from engine.recognition.recognizer import LineResult, Recognizer

__all__ = ["LineResult", "Recognizer", "beam_decode", "greedy_decode"]
