"""FrameResult -> our SkeletonArray and ActionRecognitionArray messages; the label list -> ActionLabels.

The header (stamp and frame id of the source image) is passed in; the result's stamps (the image's,
the clip's first and last frame) are integer nanoseconds, so every stamp out is an input's exactly.
A person is its body id (`b3`) in every message, as on TF and /humans; an action below the
confidence threshold is uncertain (no label, id -1), its top-k scores still carried.
"""

from __future__ import annotations

import numpy as np
from builtin_interfaces.msg import Time
from geometry_msgs.msg import Point
from sensor_msgs.msg import RegionOfInterest
from std_msgs.msg import Header

from deephar_ros.msg import ActionLabels, ActionRecognition, ActionRecognitionArray, Skeleton, SkeletonArray
from deephar_ros.perception.results import NS_PER_S, ActionEstimate, Box, FrameResult, PersonEstimate, body_id


def skeleton_array(result: FrameResult, header: Header) -> SkeletonArray:
    """One Skeleton per person in result, every joint with its confidence."""
    return SkeletonArray(
        header=header,
        skeletons=[_skeleton(person, header, result.width, result.height) for person in result.people],
    )


def action_array(
    result: FrameResult, header: Header, top_k: int, min_confidence: float
) -> ActionRecognitionArray:
    """One ActionRecognition per person with an action estimate, top_k labels each (0: all);
    uncertain where the top score is below min_confidence."""
    return ActionRecognitionArray(
        header=header,
        actions=[
            _action(person.action, header, top_k, min_confidence)
            for person in result.people
            if person.action is not None
        ],
    )


def action_labels(header: Header, label_set: str, labels: list[str], min_confidence: float) -> ActionLabels:
    """The latched label list: labels[i] names label id i; the threshold below which actions are uncertain."""
    return ActionLabels(
        header=header, label_set=label_set, labels=list(labels), min_action_confidence=float(min_confidence)
    )


def _skeleton(person: PersonEstimate, header: Header, width: int, height: int) -> Skeleton:
    joints_2d = np.asarray(person.joints_2d, dtype=np.float64)
    joints_3d = np.asarray(person.joints_3d, dtype=np.float64)
    return Skeleton(
        header=header,
        body_id=body_id(person.track_id),
        joint_names=list(person.joint_names),
        positions=[Point(x=float(x), y=float(y), z=float(z)) for x, y, z in joints_3d],
        pixels=[Point(x=float(u), y=float(v), z=0.0) for u, v in joints_2d],
        confidences=[float(c) for c in np.asarray(person.confidences, dtype=np.float64)],
        bounding_box=region_of_interest(person.box, width, height),
        detection_score=float(person.box.score),
        depth_source=int(person.depth_source),
    )


def region_of_interest(box: Box, width: int, height: int) -> RegionOfInterest:
    """The box clipped to the image, as the whole pixels RegionOfInterest holds."""
    x0 = int(np.clip(np.floor(box.x0), 0, width))
    y0 = int(np.clip(np.floor(box.y0), 0, height))
    x1 = int(np.clip(np.ceil(box.x1), x0, width))
    y1 = int(np.clip(np.ceil(box.y1), y0, height))
    return RegionOfInterest(x_offset=x0, y_offset=y0, width=x1 - x0, height=y1 - y0)


def _action(action: ActionEstimate, header: Header, top_k: int, min_confidence: float) -> ActionRecognition:
    decision = action.decision(min_confidence)
    best = action.top_k_ids(top_k)
    return ActionRecognition(
        header=header,
        body_id=body_id(action.track_id),
        label=decision.label,
        label_id=decision.label_id,
        score=decision.score,
        uncertain=decision.uncertain,
        labels=[action.labels[i] for i in best],
        label_ids=best,
        scores=[float(action.scores[i]) for i in best],
        label_set=action.label_set,
        clip_start=ns_to_time(action.clip_start_ns),
        clip_end=ns_to_time(action.clip_end_ns),
        clips_averaged=int(action.clips_averaged),
    )


def ns_to_time(stamp_ns: int) -> Time:
    """Integer nanoseconds -> builtin_interfaces/Time (stamps before 0 clamp to 0: sec is unsigned here)."""
    stamp_ns = max(int(stamp_ns), 0)
    return Time(sec=stamp_ns // NS_PER_S, nanosec=stamp_ns % NS_PER_S)


def time_to_ns(time: Time) -> int:
    """builtin_interfaces/Time -> integer nanoseconds, the stamp the pipeline works with."""
    return time.sec * NS_PER_S + time.nanosec
