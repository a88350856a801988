"""The names a user picks among (back ends, detectors, crop sources, ...), in a light module.

The command line lists and checks them before torch, OpenCV or ONNX Runtime load (`deephar-ros
--help` answers at once); the modules that act on them (engine, detection, pipeline, action_buffer,
onnx_export) take them from here, so each list is written once. Add a name here, not there. It
imports nothing of the package: every layer may read it.
"""

from __future__ import annotations

# Inference back ends (engine.py says what each one is).
GPU_BACKENDS = ("tensorrt", "cuda", "cuda-bf16")
CPU_BACKENDS = ("cpu-eager", "cpu-bf16", "cpu-compile", "onnxruntime", "openvino")
BACKEND_NAMES = ("auto", "cpu", *GPU_BACKENDS, *CPU_BACKENDS)
# Arithmetic of the back ends (reduced: bf16 on a CPU, fp16 on a GPU); reduced and auto go through the
# precision guard (engine.py).
PRECISIONS = ("fp32", "reduced", "auto")

# Person detectors (detection.py); the YOLOX ones after `deephar-ros download --detector` (releases.py
# says where each is published).
YOLOX_DETECTORS = ("yolox-nano", "yolox-tiny", "yolox-s")
DETECTORS = ("hog", "full-frame", *YOLOX_DETECTORS)

# Where a person's crop comes from, and in which window an action clip's poses are read (pipeline.py).
CROP_SOURCES = ("detector", "pose")
ACTION_WINDOWS = ("clip", "frame")

# How recent clips' action scores combine (action_buffer.py).
SCORINGS = ("mean", "authors")

# ONNX export (onnx_export.py): which part of the network, and the opset.
GRAPHS = ("clip", "frames", "actions")
DEFAULT_OPSET = 17
