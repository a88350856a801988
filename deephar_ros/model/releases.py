"""The files the authors released, and where they are published (fetched by downloads.py, on request).

The TPAMI 2020 multitask SPNet weights are on Google Drive (links in the authors' evaluation scripts,
exp/ntu/eval_ntu_multitask.py and exp/pennaction/eval_penn_multitask.py; see model/README.md). The
YOLOX person detectors (Apache-2.0, Megvii) are ONNX exports, assets of the YOLOX 0.1.1rc0 GitHub
release. A light module: the command line lists these names before anything heavy loads.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ReleasedWeights:
    """A multitask SPNet weights file of the authors' TPAMI 2020 release, on Google Drive."""

    preset: str
    filename: str
    google_drive_id: str

    @property
    def url(self) -> str:
        return f"https://drive.google.com/uc?export=download&id={self.google_drive_id}"

    @property
    def page(self) -> str:
        return f"https://drive.google.com/file/d/{self.google_drive_id}/view"


RELEASED_WEIGHTS: dict[str, ReleasedWeights] = {
    "ntu_multitask": ReleasedWeights(
        "ntu_multitask", "weights_3dp+ntu_ar_062.hdf5", "1I6GftXEkL5nohLA60Vi6faW0rvTZg6Kx"
    ),
    "penn_multitask": ReleasedWeights(
        "penn_multitask", "weights_mpii+penn_ar_028.hdf5", "106yIhqNN-TrI34SX81q2xbU-NczcQj6I"
    ),
}


YOLOX_RELEASE = "https://github.com/Megvii-BaseDetection/YOLOX/releases"


@dataclass(frozen=True)
class ReleasedDetector:
    """A YOLOX ONNX export of the authors' 0.1.1rc0 release (demo/ONNXRuntime/README.md lists them)."""

    name: str
    filename: str
    input_size: tuple[int, int]  # (height, width) the export was traced at

    @property
    def url(self) -> str:
        return f"{YOLOX_RELEASE}/download/0.1.1rc0/{self.filename}"

    @property
    def page(self) -> str:
        return f"{YOLOX_RELEASE}/tag/0.1.1rc0"


# The small models: a person detector shares the frame time with the pose network.
RELEASED_DETECTORS: dict[str, ReleasedDetector] = {
    "yolox-nano": ReleasedDetector("yolox-nano", "yolox_nano.onnx", (416, 416)),
    "yolox-tiny": ReleasedDetector("yolox-tiny", "yolox_tiny.onnx", (416, 416)),
    "yolox-s": ReleasedDetector("yolox-s", "yolox_s.onnx", (640, 640)),
}
