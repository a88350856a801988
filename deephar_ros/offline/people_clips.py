"""Clips of crops of people from a video or a folder of images: what the precision guard measures on.

The engine's precision guard (precision_guard.py) compares fp32 and reduced precision on crops of
real people, never random noise. `people_clips_from` hands it a maker of such clips, which runs only
when no kept verdict answers: the HOG detector finds the people, the crops are cut as the pipeline's.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

import numpy as np

from deephar_ros.inference.precision_guard import GuardClips
from deephar_ros.model.config import CROP_SIZE
from deephar_ros.offline.video import SAMPLE_VIDEO, FrameSource
from deephar_ros.perception.crops import crop_window, warp_crops
from deephar_ros.perception.detection import HogPersonDetector
from deephar_ros.perception.results import Box

DEFAULT_CLIPS = 4

logger = logging.getLogger(__name__)


def people_clips_from(source: str | Path | None = None) -> GuardClips | None:
    """The clips maker of `source` (a video or a folder of images; None: the sample video), or None
    when no source is given and the sample video is missing."""
    source = source if source is not None else default_source()
    return None if source is None else functools.partial(guard_clips, source)


def default_source() -> Path | None:
    """The sample video when it is there (scripts/fetch_sample_video.sh), else None."""
    return SAMPLE_VIDEO if SAMPLE_VIDEO.is_file() else None


def guard_clips(source: str | Path, clip_length: int, clips: int = DEFAULT_CLIPS) -> np.ndarray:
    """Clips of crops of people, uint8 (C, clip_length, 256, 256, 3), from a video or a folder of images.

    A video gives `clips` runs of consecutive frames spread over its length, each following one
    person found by the HOG detector (the nearest box from frame to frame). A folder gives one crop
    per image: a 256x256 image is taken as a stored crop as it is, any other is searched for its
    best person box; consecutive crops are then grouped into clips (their top-1 actions compare
    real features, not a real action). ValueError when too few people are found for one clip.
    """
    source = Path(source)
    frames = FrameSource(source)
    try:
        if frames.capture is not None:
            result = _video_clips(frames, clip_length, clips)
        else:
            result = _image_clips(frames, clip_length)
    finally:
        frames.close()
    if len(result) == 0:
        raise ValueError(
            f"{source}: too few people found for one clip of {clip_length} crops "
            "(give a video or images of upright, fully visible people)"
        )
    return result


def _video_clips(frames: FrameSource, clip_length: int, clips: int) -> np.ndarray:
    total = frames.total or clip_length
    starts = {int(start) for start in np.linspace(0, max(total - clip_length, 0), clips)}
    detector = HogPersonDetector()
    found, current, previous, running = [], [], None, False
    for frame in frames:
        if frame.index in starts:
            current, previous, running = [], None, True
        if not running:
            if frame.index > max(starts):
                break
            continue
        box = _nearest(detector.detect(frame.image), previous)
        if box is None:  # nobody yet: the run starts at the next frame with a person
            continue
        previous = box
        current.append(warp_crops(frame.image, [crop_window(box)])[0])
        if len(current) == clip_length:
            found.append(np.stack(current))
            running = False
    return np.stack(found) if found else np.zeros((0, clip_length, CROP_SIZE, CROP_SIZE, 3), np.uint8)


def _nearest(boxes: list[Box], previous: Box | None) -> Box | None:
    """The best box, or the one nearest to the previous box (which stays when nobody is found)."""
    if previous is None:
        return boxes[0] if boxes else None
    if not boxes:
        return previous

    def distance(box: Box) -> float:
        return abs(box.x0 + box.x1 - previous.x0 - previous.x1) + abs(
            box.y0 + box.y1 - previous.y0 - previous.y1
        )

    return min(boxes, key=distance)


def _image_clips(frames: FrameSource, clip_length: int) -> np.ndarray:
    detector = HogPersonDetector()
    crops = []
    for frame in frames:
        if frame.image.shape[:2] == (CROP_SIZE, CROP_SIZE):
            crops.append(frame.image)
            continue
        boxes = detector.detect(frame.image)
        if boxes:
            crops.append(warp_crops(frame.image, [crop_window(boxes[0])])[0])
        else:
            logger.info("precision guard: no person found in %s", frames.files[frame.index])
    usable = len(crops) // clip_length * clip_length
    if usable == 0:
        return np.zeros((0, clip_length, CROP_SIZE, CROP_SIZE, 3), np.uint8)
    return np.stack(crops[:usable]).reshape(-1, clip_length, CROP_SIZE, CROP_SIZE, 3)
