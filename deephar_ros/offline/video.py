"""Offline input and output of the `run` job: frame sources, JSON lines, video, contact sheet.

Images are RGB everywhere here, as in the pipeline; conversion to OpenCV's BGR happens only at
the file boundary (reading and writing).
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import cv2
import numpy as np

from deephar_ros.offline.drawing import outlined_text
from deephar_ros.perception.results import (
    DEFAULT_MIN_ACTION_CONFIDENCE,
    DEPTH_FROM_IMAGE,
    NS_PER_S,
    FrameResult,
    body_id,
)

# The sample video scripts/fetch_sample_video.sh puts in the source tree (walking pedestrians): the
# demo camera node publishes it by default, the precision guard measures on it.
SAMPLE_VIDEO = Path(__file__).resolve().parents[2] / "data" / "vtest.avi"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".ppm", ".pgm")
DEFAULT_FOLDER_FPS = 10.0
# Writers tried in order; the first OpenCV can open here is used (both read back with OpenCV).
VIDEO_FORMATS = (("mp4v", ".mp4"), ("MJPG", ".avi"))


@dataclass
class Frame:
    """One input frame: its position, its time stamp (integer nanoseconds) and the RGB image."""

    index: int
    stamp_ns: int
    image: np.ndarray


class FrameSource:
    """The frames of a video file or of a folder of images (sorted by name), stamped index / fps.

    An image that cannot be read is skipped with a warning on stderr and listed in `unreadable`
    (its time slot stays empty: stamps follow the file's place in the folder). A video that ends
    before the frame count its container declares sets `ended_early` (a truncated file).
    """

    def __init__(
        self, path: str | Path, fps: float | None = None, max_frames: int = 0, exclude: Iterable[Path] = ()
    ) -> None:
        """`exclude`: files never read as frames (a previous run's outputs, when --out is the folder)."""
        self.path = Path(path)
        if max_frames < 0:
            raise ValueError(f"max_frames must be >= 0 (0 = all), got {max_frames}")
        if fps is not None and not fps > 0:
            raise ValueError(f"frame rate must be positive, got {fps}")
        self.max_frames = max_frames
        self.files: list[Path] = []
        self.capture: cv2.VideoCapture | None = None
        self.unreadable: list[str] = []
        self.frames_read = 0
        if self.path.is_dir():
            excluded = {Path(p).resolve() for p in exclude}
            self.files = sorted(
                p
                for p in self.path.iterdir()
                if p.suffix.lower() in IMAGE_SUFFIXES and p.resolve() not in excluded
            )
            if not self.files:
                raise ValueError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in folder {self.path}")
            self.fps = fps or DEFAULT_FOLDER_FPS
            count = len(self.files)
        elif self.path.is_file():
            self.capture = cv2.VideoCapture(str(self.path))
            if not self.capture.isOpened():
                raise ValueError(f"OpenCV cannot open {self.path} as a video")
            rate = self.capture.get(cv2.CAP_PROP_FPS)
            self.fps = fps or (rate if rate and math.isfinite(rate) and rate > 0 else DEFAULT_FOLDER_FPS)
            count = int(self.capture.get(cv2.CAP_PROP_FRAME_COUNT))
        else:
            raise ValueError(f"no video file or image folder at {self.path}")
        self.declared: int | None = count if count > 0 else None  # what the container says it holds
        self.total = self.declared
        if max_frames and (self.total is None or max_frames < self.total):
            self.total = max_frames

    @property
    def ended_early(self) -> bool:
        """True when a video gave fewer frames than it declares (and than were asked for)."""
        return self.capture is not None and self.total is not None and self.frames_read < self.total

    def __iter__(self) -> Iterator[Frame]:
        index = 0
        while not self.max_frames or index < self.max_frames:
            if self.capture is not None:
                ok, bgr = self.capture.read()
                if not ok:
                    return
            elif index < len(self.files):
                bgr = cv2.imread(str(self.files[index]), cv2.IMREAD_COLOR)
                if bgr is None:
                    self.unreadable.append(str(self.files[index]))
                    print(f"warning: skipping unreadable image {self.files[index]}", file=sys.stderr)
                    index += 1
                    continue
            else:
                return
            self.frames_read += 1
            image = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            yield Frame(index=index, stamp_ns=round(index * NS_PER_S / self.fps), image=image)
            index += 1

    def close(self) -> None:
        if self.capture is not None:
            self.capture.release()


def _numbers(array: np.ndarray, digits: int = 4) -> list:
    """A nested list of rounded floats, NaN and inf as null (JSON has no NaN)."""
    if array.ndim == 0:
        value = float(array)
        return round(value, digits) if math.isfinite(value) else None
    return [_numbers(item, digits) for item in array]


def frame_record(
    result: FrameResult,
    frame_index: int,
    random_weights: bool,
    top_k: int = 5,
    min_action_confidence: float = DEFAULT_MIN_ACTION_CONFIDENCE,
) -> dict:
    """One JSON-lines record of a frame: people with body ids, box, 2D/3D joints, confidences,
    actions (label, label_id, score, uncertain: the fields of the node's ActionRecognition)."""
    people = []
    for person in result.people:
        box = person.box
        action = None
        if person.action is not None:
            decision = person.action.decision(min_action_confidence)
            action = {
                "label": decision.label,
                "label_id": decision.label_id,
                "score": round(decision.score, 4),
                "uncertain": decision.uncertain,
                "top_k": [[label, round(score, 4)] for label, score in person.action.top_k(top_k)],
                "label_set": person.action.label_set,
                "clip_start_ns": person.action.clip_start_ns,
                "clip_end_ns": person.action.clip_end_ns,
                "clips_averaged": person.action.clips_averaged,
            }
        people.append(
            {
                "id": body_id(person.track_id),
                "box": [round(float(v), 2) for v in (box.x0, box.y0, box.x1, box.y1)],
                "box_score": round(float(box.score), 4),
                "joints_2d": _numbers(np.asarray(person.joints_2d)),
                "joints_3d": _numbers(np.asarray(person.joints_3d)),
                "confidences": _numbers(np.asarray(person.confidences)),
                "depth_source": "depth_image" if person.depth_source == DEPTH_FROM_IMAGE else "person_size",
                "action": action,
            }
        )
    return {
        "frame": frame_index,
        "stamp_ns": result.stamp_ns,
        "width": result.width,
        "height": result.height,
        "random_weights": random_weights,
        "people": people,
        "retired_track_ids": list(result.retired_track_ids),
        "timings_ms": {stage: round(ms, 3) for stage, ms in result.timings_ms.items()},
    }


class JsonLinesWriter:
    """Writes one JSON object per line, each line flushed as it is written (a killed run keeps them)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.file = self.path.open("w", encoding="utf-8", buffering=1)

    def write(self, record: dict) -> None:
        self.file.write(json.dumps(record, allow_nan=False) + "\n")

    def close(self) -> None:
        self.file.close()


class AnnotatedVideoWriter:
    """An RGB frame writer in the first format of VIDEO_FORMATS that OpenCV can open here."""

    def __init__(self, stem: str | Path, fps: float, size: tuple[int, int]) -> None:
        self.size = size
        for fourcc, suffix in VIDEO_FORMATS:
            path = Path(stem).with_suffix(suffix)
            writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, size)
            if writer.isOpened():
                self.path, self.writer = path, writer
                return
            writer.release()
            path.unlink(missing_ok=True)
        raise RuntimeError(f"OpenCV can write none of {VIDEO_FORMATS} here")

    def write(self, image: np.ndarray) -> None:
        """Add a frame; frames of another size (image folders) are resized to the first one's."""
        if (image.shape[1], image.shape[0]) != self.size:
            image = cv2.resize(image, self.size, interpolation=cv2.INTER_AREA)
        self.writer.write(cv2.cvtColor(image, cv2.COLOR_RGB2BGR))

    def close(self) -> None:
        self.writer.release()


class ContactSheet:
    """A grid of evenly spaced annotated frames of a run of unknown length.

    Keeps every `stride`-th frame; when the grid is full, every other kept frame is dropped and
    the stride doubles, so the sheet always spans the whole run.
    """

    def __init__(self, cells: int = 12, columns: int = 3, cell_width: int = 512) -> None:
        if cells < 1 or columns < 1 or cell_width < 16:
            raise ValueError("a contact sheet needs at least one cell, one column and 16 px cells")
        self.cells, self.columns, self.cell_width = cells, columns, cell_width
        self.stride = 1
        self.kept: list[tuple[int, np.ndarray]] = []

    def offer(self, index: int, image: np.ndarray) -> None:
        if index % self.stride:
            return
        if len(self.kept) == self.cells:
            self.kept = self.kept[::2]
            self.stride *= 2
            if index % self.stride:
                return
        height = round(image.shape[0] * self.cell_width / image.shape[1])
        thumbnail = cv2.resize(image, (self.cell_width, height), interpolation=cv2.INTER_AREA)
        outlined_text(thumbnail, f"frame {index}", (6, height - 8), (255, 255, 0), scale=0.6)
        self.kept.append((index, thumbnail))

    def render(self) -> np.ndarray:
        """The sheet as one RGB image (cells of different heights are padded)."""
        if not self.kept:
            raise ValueError("no frames were offered to the contact sheet")
        cell_height = max(thumb.shape[0] for _, thumb in self.kept)
        rows = math.ceil(len(self.kept) / self.columns)
        gap = 4
        sheet = np.full(
            (rows * (cell_height + gap) + gap, self.columns * (self.cell_width + gap) + gap, 3), 32, np.uint8
        )
        for n, (_, thumb) in enumerate(self.kept):
            top = gap + (n // self.columns) * (cell_height + gap)
            left = gap + (n % self.columns) * (self.cell_width + gap)
            sheet[top : top + thumb.shape[0], left : left + self.cell_width] = thumb
        return sheet

    def save(self, path: str | Path) -> None:
        if not cv2.imwrite(str(path), cv2.cvtColor(self.render(), cv2.COLOR_RGB2BGR)):
            raise RuntimeError(f"OpenCV could not write {path}")


class ProgressBar:
    """Progress on stderr: on a terminal one line redrawn in place; elsewhere (a log file, a pipe,
    journald) whole lines, the first update, then one every `log_every_s` seconds and the last one,
    so a log gets a readable line per update instead of one endless line of carriage returns."""

    def __init__(
        self,
        total: int | None,
        stream: TextIO | None = None,
        width: int = 30,
        log_every_s: float = 10.0,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.total, self.stream, self.width = total, stream or sys.stderr, width
        self.log_every_s, self.clock = log_every_s, clock
        self.in_place = _is_terminal(self.stream)
        self.started = clock()
        self._logged_at: float | None = None
        self._unlogged: str | None = None  # the newest line not yet written (not on a terminal)
        self._drawn = False

    def update(self, done: int, people: int) -> None:
        now = self.clock()
        rate = f"{done / max(now - self.started, 1e-9):5.1f} fps"
        if self.total:
            filled = round(self.width * min(done / self.total, 1.0))
            bar = f"[{'#' * filled}{'.' * (self.width - filled)}] {done}/{self.total}"
        else:
            bar = f"{done} frames"
        text = f"{bar} {rate} people={people}"
        if self.in_place:
            self.stream.write(f"\r{text} ")
            self._drawn = True
        elif self._logged_at is None or now - self._logged_at >= self.log_every_s:
            self.stream.write(text + "\n")
            self._logged_at, self._unlogged = now, None
        else:
            self._unlogged = text
            return
        self.stream.flush()

    def finish(self) -> None:
        """End the bar's line on a terminal; elsewhere write the last update if it was held back."""
        if self.in_place and self._drawn:
            self.stream.write("\n")
        elif self._unlogged is not None:
            self.stream.write(self._unlogged + "\n")
            self._unlogged = None
        self.stream.flush()


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False
