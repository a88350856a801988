"""Person boxes from another detector's vision_msgs/Detection2DArray (detector: topic).

Isaac ROS, yolo_ros and other detector nodes publish Detection2DArray with the header of the image
they ran on; the node pairs each image with the detections of the same stamp and crops those boxes.
A detection is a person when one of its hypotheses has a class id in `person_class_ids` (strings,
as ObjectHypothesis.class_id is: "person" for detectors that name classes, "0" for COCO indices);
its score is the best such hypothesis's. A person score outside [0, 1] (a logit, -5, 1e30, NaN) is
no probability: the whole message is refused with an error naming it rather than publishing it as
a detection_score. vision_msgs is not on PyPI: the message is read by field
name, so tests pass stand-ins, and both the 4.x (bbox.center.position.x) and the older
(bbox.center.x) layouts are read.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from deephar_ros.perception.results import Box
from deephar_ros.ros.image_conversion import ImageConversionError


def _centre(bbox: Any) -> tuple[float, float]:
    centre = bbox.center
    position = getattr(centre, "position", centre)
    return float(position.x), float(position.y)


def _person_score(detection: Any, person_class_ids: frozenset[str]) -> float | None:
    """The best score among the detection's person hypotheses; None when none is a person."""
    best = None
    for result in detection.results:
        hypothesis = getattr(result, "hypothesis", result)  # ObjectHypothesisWithPose or ObjectHypothesis
        if str(hypothesis.class_id) in person_class_ids:
            score = float(hypothesis.score)
            if not 0.0 <= score <= 1.0:
                raise ImageConversionError(
                    f"detection '{detection.id}' scores a person {score}, outside [0, 1]: refused"
                )
            best = score if best is None else max(best, score)
    return best


def boxes_from_detections(message: Any, person_class_ids: Iterable[str]) -> list[Box]:
    """The person boxes of a Detection2DArray, in image pixels; non-finite or empty boxes are skipped."""
    wanted = frozenset(str(class_id) for class_id in person_class_ids)
    boxes = []
    for detection in message.detections:
        score = _person_score(detection, wanted)
        if score is None:
            continue
        cx, cy = _centre(detection.bbox)
        half_w, half_h = float(detection.bbox.size_x) / 2, float(detection.bbox.size_y) / 2
        values = (cx - half_w, cy - half_h, cx + half_w, cy + half_h, score)
        if all(math.isfinite(v) for v in values) and half_w > 0 and half_h > 0:
            boxes.append(Box(*values))
    return boxes
