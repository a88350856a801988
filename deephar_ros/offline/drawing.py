"""Results drawn on the image they came from: boxes, skeletons, track ids, depths, action labels.

Shared by the ROS node (its debug_image topic) and the offline `run` job (video, contact sheet).
Images are RGB, as everywhere in the pipeline.
"""

from __future__ import annotations

import colorsys
import math

import cv2
import numpy as np

from deephar_ros.perception.results import (
    DEFAULT_MIN_ACTION_CONFIDENCE,
    DEPTH_FROM_IMAGE,
    FrameResult,
    PersonEstimate,
    body_id,
    seconds,
)

RANDOM_WEIGHTS_BANNER = "RANDOM WEIGHTS: skeletons and actions are meaningless"


def weights_banner(random_weights: bool) -> str | None:
    """The banner every image drawn from an untrained network carries; None for real weights."""
    return RANDOM_WEIGHTS_BANNER if random_weights else None


def track_colour(track_id: int) -> tuple[int, int, int]:
    """A bright RGB colour per track id, neighbours far apart in hue (golden-ratio steps)."""
    hue = (track_id * 0.618033988749895) % 1.0
    red, green, blue = colorsys.hsv_to_rgb(hue, 0.85, 1.0)
    return int(red * 255), int(green * 255), int(blue * 255)


def outlined_text(image: np.ndarray, text: str, origin: tuple[int, int], colour, scale: float = 0.5) -> None:
    """Text with a dark outline so it reads on any background."""
    cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, colour, 1, cv2.LINE_AA)


# Points drawn lie within this many pixels of the origin: OpenCV takes int32 coordinates, and NaN,
# infinities or 1e30 cast to int are garbage (or an OpenCV error), so such points are skipped.
MAX_DRAWN_COORDINATE = 1 << 20


def _drawable(values: np.ndarray) -> np.ndarray:
    """True where every coordinate along the last axis is a number OpenCV can draw at."""
    values = np.asarray(values, dtype=np.float64)
    return np.all(np.isfinite(values) & (np.abs(values) < MAX_DRAWN_COORDINATE), axis=-1)


def _draw_person(
    image: np.ndarray, person: PersonEstimate, bones, min_confidence: float, min_action_confidence: float
) -> None:
    colour = track_colour(person.track_id)
    box = person.box
    corners = np.array([box.x0, box.y0, box.x1, box.y1])
    if _drawable(corners):
        cv2.rectangle(image, (round(box.x0), round(box.y0)), (round(box.x1), round(box.y1)), colour, 1)
    drawable = _drawable(person.joints_2d) & np.isfinite(person.confidences)
    points = np.round(np.where(drawable[:, None], person.joints_2d, 0)).astype(int)
    for a, b in bones:
        if (
            drawable[a]
            and drawable[b]
            and min(person.confidences[a], person.confidences[b]) >= min_confidence
        ):
            cv2.line(image, tuple(points[a]), tuple(points[b]), colour, 2, cv2.LINE_AA)
    for point, confidence in zip(points[drawable], person.confidences[drawable], strict=True):
        filled = -1 if confidence >= max(min_confidence, 0.5) else 1
        cv2.circle(image, tuple(point), 3, colour, filled, cv2.LINE_AA)
    if not _drawable(corners[:2]):
        return
    label = body_id(person.track_id)
    root_depth = person.joints_3d[0, 2]
    if math.isfinite(root_depth):
        source = "depth" if person.depth_source == DEPTH_FROM_IMAGE else "size"
        label += f" {root_depth:.1f}m ({source})"
    if person.action is not None:
        label += f" {person.action.decision(min_action_confidence).text}"
    outlined_text(image, label, (round(box.x0), max(round(box.y0) - 6, 12)), colour)


def draw_result(
    image: np.ndarray,
    result: FrameResult,
    bones,
    banner: str | None = None,
    min_confidence: float = 0.0,
    min_action_confidence: float = DEFAULT_MIN_ACTION_CONFIDENCE,
) -> np.ndarray:
    """A copy of an RGB frame with boxes, skeletons, body ids, depths and action labels drawn on it;
    an action below min_action_confidence shows as `uncertain`, as the messages say."""
    canvas = image.copy()
    for person in result.people:
        _draw_person(canvas, person, bones, min_confidence, min_action_confidence)
    footer = f"t={seconds(result.stamp_ns):.2f}s  people={len(result.people)}"
    (footer_width, _), _ = cv2.getTextSize(footer, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)
    outlined_text(canvas, footer, (canvas.shape[1] - footer_width - 8, canvas.shape[0] - 10), (255, 255, 255))
    if banner:
        cv2.rectangle(canvas, (0, 0), (canvas.shape[1], 26), (200, 0, 0), -1)
        outlined_text(canvas, banner, (8, 18), (255, 255, 255), scale=0.55)
    return canvas
