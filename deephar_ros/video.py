"""Offline input and output of the `run` job: frame sources, drawing, JSON lines, video, contact sheet.

Images are RGB everywhere here, as in the pipeline; conversion to OpenCV's BGR happens only at
the file boundary (reading and writing).
"""

from __future__ import annotations

import colorsys
import json
import math
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import cv2
import numpy as np

from deephar_ros.results import DEPTH_FROM_IMAGE, FrameResult, PersonEstimate

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".ppm", ".pgm")
DEFAULT_FOLDER_FPS = 10.0
RANDOM_WEIGHTS_BANNER = "RANDOM WEIGHTS: skeletons and actions are meaningless"
# Writers tried in order; the first OpenCV can open here is used (both read back with OpenCV).
VIDEO_FORMATS = (("mp4v", ".mp4"), ("MJPG", ".avi"))


@dataclass
class Frame:
    """One input frame: its position, its time stamp (seconds) and the RGB image."""

    index: int
    stamp: float
    image: np.ndarray


class FrameSource:
    """The frames of a video file or of a folder of images (sorted by name), with stamps index / fps."""

    def __init__(self, path: str | Path, fps: float | None = None, max_frames: int = 0) -> None:
        self.path = Path(path)
        if max_frames < 0:
            raise ValueError(f"max_frames must be >= 0 (0 = all), got {max_frames}")
        if fps is not None and not fps > 0:
            raise ValueError(f"frame rate must be positive, got {fps}")
        self.max_frames = max_frames
        self.files: list[Path] = []
        self.capture: cv2.VideoCapture | None = None
        if self.path.is_dir():
            self.files = sorted(p for p in self.path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
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
        self.total: int | None = count if count > 0 else None
        if max_frames and (self.total is None or max_frames < self.total):
            self.total = max_frames

    def __iter__(self) -> Iterator[Frame]:
        index = 0
        while not self.max_frames or index < self.max_frames:
            image = self._read(index)
            if image is None:
                return
            yield Frame(index=index, stamp=index / self.fps, image=image)
            index += 1

    def _read(self, index: int) -> np.ndarray | None:
        if self.capture is not None:
            ok, bgr = self.capture.read()
            return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB) if ok else None
        if index >= len(self.files):
            return None
        bgr = cv2.imread(str(self.files[index]), cv2.IMREAD_COLOR)
        if bgr is None:
            raise ValueError(f"cannot read image {self.files[index]}")
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def close(self) -> None:
        if self.capture is not None:
            self.capture.release()


def track_colour(track_id: int) -> tuple[int, int, int]:
    """A bright RGB colour per track id, neighbours far apart in hue (golden-ratio steps)."""
    hue = (track_id * 0.618033988749895) % 1.0
    red, green, blue = colorsys.hsv_to_rgb(hue, 0.85, 1.0)
    return int(red * 255), int(green * 255), int(blue * 255)


def _text(image: np.ndarray, text: str, origin: tuple[int, int], colour, scale: float = 0.5) -> None:
    """Text with a dark outline so it reads on any background."""
    cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, colour, 1, cv2.LINE_AA)


def _draw_person(image: np.ndarray, person: PersonEstimate, bones, min_confidence: float) -> None:
    colour = track_colour(person.track_id)
    box = person.box
    cv2.rectangle(image, (round(box.x0), round(box.y0)), (round(box.x1), round(box.y1)), colour, 1)
    points = np.round(person.joints_2d).astype(int)
    for a, b in bones:
        if min(person.confidences[a], person.confidences[b]) >= min_confidence:
            cv2.line(image, tuple(points[a]), tuple(points[b]), colour, 2, cv2.LINE_AA)
    for point, confidence in zip(points, person.confidences, strict=True):
        filled = -1 if confidence >= max(min_confidence, 0.5) else 1
        cv2.circle(image, tuple(point), 3, colour, filled, cv2.LINE_AA)
    label = f"#{person.track_id}"
    root_depth = person.joints_3d[0, 2]
    if math.isfinite(root_depth):
        source = "depth" if person.depth_source == DEPTH_FROM_IMAGE else "size"
        label += f" {root_depth:.1f}m ({source})"
    if person.action is not None:
        label += f" {person.action.top_label} {person.action.top_score:.2f}"
    _text(image, label, (round(box.x0), max(round(box.y0) - 6, 12)), colour)


def draw_result(
    image: np.ndarray, result: FrameResult, bones, banner: str | None = None, min_confidence: float = 0.0
) -> np.ndarray:
    """A copy of an RGB frame with boxes, skeletons, ids, depths and action labels drawn on it."""
    canvas = image.copy()
    for person in result.people:
        _draw_person(canvas, person, bones, min_confidence)
    footer = f"t={result.stamp:.2f}s  people={len(result.people)}"
    (footer_width, _), _ = cv2.getTextSize(footer, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)
    _text(canvas, footer, (canvas.shape[1] - footer_width - 8, canvas.shape[0] - 10), (255, 255, 255))
    if banner:
        cv2.rectangle(canvas, (0, 0), (canvas.shape[1], 26), (200, 0, 0), -1)
        _text(canvas, banner, (8, 18), (255, 255, 255), scale=0.55)
    return canvas


def _numbers(array: np.ndarray, digits: int = 4) -> list:
    """A nested list of rounded floats, NaN and inf as null (JSON has no NaN)."""
    if array.ndim == 0:
        value = float(array)
        return round(value, digits) if math.isfinite(value) else None
    return [_numbers(item, digits) for item in array]


def frame_record(result: FrameResult, frame_index: int, random_weights: bool, top_k: int = 5) -> dict:
    """One JSON-lines record of a frame: people with ids, box, 2D/3D joints, confidences, actions."""
    people = []
    for person in result.people:
        box = person.box
        action = None
        if person.action is not None:
            action = {
                "top_k": [[label, round(score, 4)] for label, score in person.action.top_k(top_k)],
                "label_set": person.action.label_set,
                "clip_start": person.action.clip_start,
                "clip_end": person.action.clip_end,
                "clips_averaged": person.action.clips_averaged,
            }
        people.append(
            {
                "id": person.track_id,
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
        "stamp": result.stamp,
        "width": result.width,
        "height": result.height,
        "random_weights": random_weights,
        "people": people,
        "retired_track_ids": list(result.retired_track_ids),
        "timings_ms": {stage: round(ms, 3) for stage, ms in result.timings_ms.items()},
    }


class JsonLinesWriter:
    """Writes one JSON object per line."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.file = self.path.open("w", encoding="utf-8")

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
        _text(thumbnail, f"frame {index}", (6, height - 8), (255, 255, 0), scale=0.6)
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
    """A one-line progress bar on stderr, redrawn in place."""

    def __init__(self, total: int | None, stream: TextIO | None = None, width: int = 30) -> None:
        self.total, self.stream, self.width = total, stream or sys.stderr, width
        self.started = time.perf_counter()

    def update(self, done: int, people: int) -> None:
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        rate = f"{done / elapsed:5.1f} fps"
        if self.total:
            filled = round(self.width * min(done / self.total, 1.0))
            bar = f"[{'#' * filled}{'.' * (self.width - filled)}] {done}/{self.total}"
        else:
            bar = f"{done} frames"
        self.stream.write(f"\r{bar} {rate} people={people} ")
        self.stream.flush()

    def finish(self) -> None:
        self.stream.write("\n")
        self.stream.flush()
