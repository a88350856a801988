"""FrameResult -> visualization_msgs/MarkerArray for RViz: bones, joints and a label per track.

Every track owns one marker id (its track id) in each of three namespaces, so RViz updates a
person's markers in place; retired tracks get DELETE markers and every marker has a lifetime so
a skeleton that stops being updated vanishes even if the DELETE is lost. The lifetime follows the
measured time between updates (MarkerLifetime): a fixed 0.5 s against a network that answers every
0.6 s made the skeletons blink.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import numpy as np
from builtin_interfaces.msg import Duration
from geometry_msgs.msg import Point
from std_msgs.msg import ColorRGBA, Header
from visualization_msgs.msg import Marker, MarkerArray

from deephar_ros.offline.drawing import track_colour as track_colour_rgb
from deephar_ros.perception.results import DEFAULT_MIN_ACTION_CONFIDENCE, FrameResult, PersonEstimate, body_id

BONES_NAMESPACE = "bones"
JOINTS_NAMESPACE = "joints"
LABELS_NAMESPACE = "labels"
NAMESPACES = (BONES_NAMESPACE, JOINTS_NAMESPACE, LABELS_NAMESPACE)

BONE_WIDTH_M = 0.03
JOINT_DIAMETER_M = 0.06
TEXT_HEIGHT_M = 0.12
TEXT_ABOVE_HEAD_M = 0.25
LIFETIME_INTERVALS = 3.0  # a marker outlives this many of the recent update intervals
RECENT_UPDATES = 10


class MarkerLifetime:
    """The lifetime of the markers of each update: at least `minimum_s`, and LIFETIME_INTERVALS times
    the longest of the last RECENT_UPDATES intervals between updates (wall clock), so a marker
    outlives a slow frame or two and still vanishes soon after its track stops. minimum_s 0: forever.
    """

    def __init__(self, minimum_s: float) -> None:
        self.minimum_s = minimum_s
        self._last: float | None = None
        self._intervals: deque[float] = deque(maxlen=RECENT_UPDATES)

    def update(self, now_s: float) -> float:
        """The lifetime for markers published at now_s (monotonic seconds)."""
        if self._last is not None and now_s > self._last:
            self._intervals.append(now_s - self._last)
        self._last = now_s
        if self.minimum_s == 0.0:
            return 0.0
        return max(self.minimum_s, LIFETIME_INTERVALS * max(self._intervals, default=0.0))


def track_colour(track_id: int) -> ColorRGBA:
    """The track's colour of the annotated images (deephar_ros.offline.drawing), so RViz and images agree."""
    red, green, blue = track_colour_rgb(track_id)
    return ColorRGBA(r=red / 255.0, g=green / 255.0, b=blue / 255.0, a=1.0)


def frame_markers(
    result: FrameResult,
    header: Header,
    bones: Sequence[tuple[int, int]],
    min_joint_confidence: float,
    lifetime_s: float,
    min_action_confidence: float = DEFAULT_MIN_ACTION_CONFIDENCE,
) -> MarkerArray:
    """Markers for every person of result, DELETE markers for its retired tracks.

    Joints below min_joint_confidence or without a 3D position (2D-only presets) are left out,
    and so are the bones touching them. The label says `uncertain` below min_action_confidence.
    """
    lifetime = _duration(lifetime_s)
    markers: list[Marker] = []
    for person in result.people:
        markers.extend(
            _person_markers(person, header, bones, min_joint_confidence, lifetime, min_action_confidence)
        )
    for track_id in result.retired_track_ids:
        for namespace in NAMESPACES:
            markers.append(Marker(header=header, ns=namespace, id=int(track_id), action=Marker.DELETE))
    return MarkerArray(markers=markers)


def _person_markers(
    person: PersonEstimate,
    header: Header,
    bones: Sequence[tuple[int, int]],
    min_joint_confidence: float,
    lifetime: Duration,
    min_action_confidence: float,
) -> list[Marker]:
    joints = np.asarray(person.joints_3d, dtype=np.float64)
    shown = np.all(np.isfinite(joints), axis=1) & (np.asarray(person.confidences) >= min_joint_confidence)
    if not shown.any():
        return []
    colour = track_colour(person.track_id)
    points = [Point(x=float(x), y=float(y), z=float(z)) for x, y, z in joints]

    def marker(namespace: str, kind: int) -> Marker:
        return Marker(
            header=header,
            ns=namespace,
            id=int(person.track_id),
            type=kind,
            action=Marker.ADD,
            lifetime=lifetime,
            color=colour,
        )

    bone_marker = marker(BONES_NAMESPACE, Marker.LINE_LIST)
    bone_marker.pose.orientation.w = 1.0
    bone_marker.scale.x = BONE_WIDTH_M
    bone_marker.points = [
        points[end] for start, stop in bones if shown[start] and shown[stop] for end in (start, stop)
    ]

    joint_marker = marker(JOINTS_NAMESPACE, Marker.SPHERE_LIST)
    joint_marker.pose.orientation.w = 1.0
    joint_marker.scale.x = joint_marker.scale.y = joint_marker.scale.z = JOINT_DIAMETER_M
    joint_marker.points = [point for point, visible in zip(points, shown, strict=True) if visible]

    label_marker = marker(LABELS_NAMESPACE, Marker.TEXT_VIEW_FACING)
    visible = joints[shown]
    top = visible[np.argmin(visible[:, 1])]  # optical frame: y points down, so the smallest y is highest
    label_marker.pose.position = Point(x=float(top[0]), y=float(top[1] - TEXT_ABOVE_HEAD_M), z=float(top[2]))
    label_marker.pose.orientation.w = 1.0
    label_marker.scale.z = TEXT_HEIGHT_M
    label_marker.text = _label_text(person, min_action_confidence)
    return [bone_marker, joint_marker, label_marker]


def _label_text(person: PersonEstimate, min_action_confidence: float) -> str:
    """`b3`, `b3 wave 70%` or `b3 uncertain`: the body id and action as the messages give them."""
    if person.action is None:
        return body_id(person.track_id)
    return f"{body_id(person.track_id)} {person.action.decision(min_action_confidence).text}"


def _duration(seconds: float) -> Duration:
    whole, nanoseconds = divmod(round(seconds * 1e9), 1_000_000_000)
    return Duration(sec=whole, nanosec=nanoseconds)
