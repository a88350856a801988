"""Rigid transforms between TF frames, and moving a frame's 3D points into `output_frame`.

`output_frame` must transform the points, not relabel them: a consumer reading base_link expects
base_link coordinates. Where tf2_ros exists (every ROS 2 install) the node looks transforms up in a
tf2 Buffer at the image stamp (`Tf2Transforms`). tf2_ros is not on PyPI, so for the pip install
and the tests this module also holds `StaticTransforms`: the transforms of /tf_static (a robot's
fixed camera mount, what robot_state_publisher latches for fixed joints) composed along the tree,
the small piece of tf2 the node needs for a fixed camera. Both answer `lookup(target, source,
stamp_ns)` with a `RigidTransform` or raise `TransformUnavailable` saying why.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np
from geometry_msgs.msg import Quaternion, TransformStamped

from deephar_ros.perception.results import FrameResult

try:  # part of every ROS 2 install, not on PyPI
    import tf2_ros
    from rclpy.duration import Duration
    from rclpy.time import Time
except ImportError:
    tf2_ros = None


class TransformUnavailable(LookupError):
    """No transform between two frames at a stamp (missing link, not yet received, too old)."""


@dataclass(frozen=True)
class RigidTransform:
    """p_target = rotation @ p_source + translation."""

    rotation: np.ndarray  # (3, 3)
    translation: np.ndarray  # (3,)

    @staticmethod
    def identity() -> RigidTransform:
        return RigidTransform(np.eye(3), np.zeros(3))

    @staticmethod
    def from_message(transform: Any) -> RigidTransform:
        """A geometry_msgs/Transform (the child frame's pose in the parent frame) as parent <- child."""
        q = transform.rotation
        t = transform.translation
        return RigidTransform(
            rotation_matrix(q.x, q.y, q.z, q.w), np.array([t.x, t.y, t.z], dtype=np.float64)
        )

    def __matmul__(self, other: RigidTransform) -> RigidTransform:
        """self after other: (a <- b) @ (b <- c) = a <- c."""
        return RigidTransform(
            self.rotation @ other.rotation, self.rotation @ other.translation + self.translation
        )

    def inverse(self) -> RigidTransform:
        rotation = self.rotation.T
        return RigidTransform(rotation, -rotation @ self.translation)

    def apply(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) points moved; NaN rows stay NaN."""
        return np.asarray(points, dtype=np.float64) @ self.rotation.T + self.translation


def rotation_matrix(x: float, y: float, z: float, w: float) -> np.ndarray:
    """The rotation of a quaternion (normalised first; TF's are unit up to rounding)."""
    q = np.array([x, y, z, w], dtype=np.float64)
    norm = np.linalg.norm(q)
    if not np.isfinite(norm) or norm == 0.0:
        raise TransformUnavailable(f"quaternion ({x}, {y}, {z}, {w}) is not a rotation")
    x, y, z, w = q / norm
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def quaternion(rotation: np.ndarray) -> Quaternion:
    """The unit quaternion of a rotation matrix (Shepperd's method: stable for every angle)."""
    m = np.asarray(rotation, dtype=np.float64)
    trace = np.trace(m)
    if trace > 0:
        s = 2.0 * np.sqrt(trace + 1.0)
        w, x, y, z = 0.25 * s, (m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s
    elif m[0, 0] > m[1, 1] and m[0, 0] > m[2, 2]:
        s = 2.0 * np.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2])
        w, x, y, z = (m[2, 1] - m[1, 2]) / s, 0.25 * s, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s
    elif m[1, 1] > m[2, 2]:
        s = 2.0 * np.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2])
        w, x, y, z = (m[0, 2] - m[2, 0]) / s, (m[0, 1] + m[1, 0]) / s, 0.25 * s, (m[1, 2] + m[2, 1]) / s
    else:
        s = 2.0 * np.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1])
        w, x, y, z = (m[1, 0] - m[0, 1]) / s, (m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, 0.25 * s
    return Quaternion(x=float(x), y=float(y), z=float(z), w=float(w))


def result_in_frame(result: FrameResult, transform: RigidTransform) -> FrameResult:
    """result with every person's 3D joints moved by transform (2D pixels and boxes stay the image's)."""
    people = [replace(person, joints_3d=transform.apply(person.joints_3d)) for person in result.people]
    return replace(result, people=people)


class TransformSource(Protocol):
    def lookup(self, target: str, source: str, stamp_ns: int) -> RigidTransform: ...


class StaticTransforms:
    """The /tf_static tree: target <- source composed through the common ancestor, at any stamp.

    Each message replaces the transforms of the child frames it names (tf2's rule: a child has one
    parent). Thread-safe: the subscription adds, the worker looks up.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._parents: dict[str, tuple[str, RigidTransform]] = {}  # child -> (parent, parent <- child)

    def add(self, transforms: Iterable[TransformStamped]) -> None:
        with self._lock:
            for stamped in transforms:
                child, parent = stamped.child_frame_id.lstrip("/"), stamped.header.frame_id.lstrip("/")
                if child and parent and child != parent:
                    self._parents[child] = (parent, RigidTransform.from_message(stamped.transform))

    def on_message(self, message: Any) -> None:
        """The /tf_static subscription callback (tf2_msgs/TFMessage)."""
        self.add(message.transforms)

    def lookup(self, target: str, source: str, stamp_ns: int = 0) -> RigidTransform:
        """target <- source; static transforms hold at every stamp."""
        with self._lock:
            up_from_source = self._chain_to_root(source.lstrip("/"))
            up_from_target = self._chain_to_root(target.lstrip("/"))
        source_root, target_root = up_from_source[-1][0], up_from_target[-1][0]
        if source_root != target_root:
            raise TransformUnavailable(
                f"no static transform between '{target}' and '{source}' (they hang under '{target_root}' "
                f"and '{source_root}'; is the camera mount on /tf_static?)"
            )
        return _to_root(up_from_target).inverse() @ _to_root(up_from_source)

    def _chain_to_root(self, frame: str) -> list[tuple[str, RigidTransform]]:
        """[(frame, identity), (parent, parent <- child), ...] up to the root (frames seen once)."""
        chain = [(frame, RigidTransform.identity())]
        seen = {frame}
        while frame in self._parents:
            frame, transform = self._parents[frame]
            if frame in seen:
                raise TransformUnavailable(f"/tf_static holds a loop through '{frame}'")
            seen.add(frame)
            chain.append((frame, transform))
        return chain


def _to_root(chain: list[tuple[str, RigidTransform]]) -> RigidTransform:
    """root <- first frame of chain."""
    total = RigidTransform.identity()
    for _, parent_from_child in chain[1:]:
        total = parent_from_child @ total
    return total


class Tf2Transforms:
    """tf2_ros's Buffer and listener (every ROS 2 install): static and moving frames, at the stamp."""

    def __init__(self, node: Any, timeout_s: float = 0.05) -> None:
        self._buffer = tf2_ros.Buffer()
        self._listener = tf2_ros.TransformListener(self._buffer, node)
        self._timeout = Duration(seconds=timeout_s)

    def lookup(self, target: str, source: str, stamp_ns: int) -> RigidTransform:
        try:
            stamped = self._buffer.lookup_transform(
                target, source, Time(nanoseconds=stamp_ns), timeout=self._timeout
            )
        except tf2_ros.TransformException as error:
            raise TransformUnavailable(str(error)) from None
        return RigidTransform.from_message(stamped.transform)


def transform_source(node: Any, static_qos: Any) -> TransformSource:
    """tf2's where tf2_ros exists, else the /tf_static listener; a start-up error where neither can be."""
    if tf2_ros is not None:
        return Tf2Transforms(node)
    try:
        from tf2_msgs.msg import TFMessage
    except ImportError:
        raise RuntimeError(
            "parameter output_frame is set but neither tf2_ros nor tf2_msgs is installed (they come with"
            " ROS 2, e.g. apt install ros-$ROS_DISTRO-tf2-ros; PyPI has none): install them or leave"
            " output_frame empty"
        ) from None
    static = StaticTransforms()
    node.create_subscription(TFMessage, "/tf_static", static.on_message, static_qos)
    return static
