"""The perception node's parameters: declaration with descriptors and ranges, then validation.

Ranges are enforced by rclpy when the parameters are declared or set (a value outside a range
is refused there); the choices among strings and the cross-parameter rules are checked here, at
start-up and for every change at run time (`live_change_refusal`). The thresholds (detection, joint,
action confidence), smoothing, the detector's cadence, the people cap, the marker lifetime and
`enabled` are live (LIVE_PARAMETERS, `ros2 param set`); every other one shapes the network, the
pipeline or a subscription built at start-up, so it is read-only and its descriptor says a restart
is needed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields, replace

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.exceptions import ParameterUninitializedException
from rclpy.node import Node
from rclpy.parameter import Parameter

from deephar_ros import MAX_IMAGE_PIXELS
from deephar_ros.choices import (
    ACTION_WINDOWS,
    BACKEND_NAMES,
    CROP_SOURCES,
    DETECTORS,
    PRECISIONS,
    SCORINGS,
    YOLOX_DETECTORS,
)
from deephar_ros.model.config import preset_names
from deephar_ros.perception.results import DEFAULT_MIN_ACTION_CONFIDENCE
from deephar_ros.ros.image_conversion import DEFAULT_MAX_IMAGE_PIXELS, MIN_IMAGE_SIDE

RELIABILITY_CHOICES = ("auto", "best_effort", "reliable")
# "topic": boxes from another detector's vision_msgs/Detection2DArray on detections_in (ROS installs).
DETECTOR_CHOICES = (*DETECTORS, "topic")
TRANSPORT_CHOICES = ("raw", "compressed")
# Parameters `ros2 param set` may change while the node runs (perception_node.py applies them).
LIVE_PARAMETERS = frozenset(
    {
        "enabled",
        "min_detection_score",
        "min_joint_confidence",
        "max_people",
        "detect_every_n_frames",
        "smoothing",
        "action_top_k",
        "min_action_confidence",
        "person_class_ids",
        "marker_lifetime",
    }
)
RESTART_NOTE = " Read-only: restart the node to change it."
LIVE_NOTE = " Live: `ros2 param set` applies it from the next frame."


@dataclass(frozen=True)
class PerceptionParameters:
    """The values of every parameter of the perception node, with their defaults."""

    weights: str = ""
    model: str = "ntu_multitask"
    backend: str = "auto"
    device: str = "auto"
    precision: str = "fp32"
    detector: str = "hog"
    detector_weights: str = ""
    person_class_ids: tuple[str, ...] = ("person", "0")
    crop_source: str = "detector"
    detect_every_n_frames: int = 10
    min_detection_score: float = -1.0
    min_joint_confidence: float = 0.2
    max_people: int = 8
    flip_tta: bool = False
    action_every_n_frames: int = 1
    clip_stride: int = 0
    action_top_k: int = 5
    min_action_confidence: float = DEFAULT_MIN_ACTION_CONFIDENCE
    action_scoring: str = "mean"
    mirrored_action_pass: bool = False
    action_window: str = "clip"
    depth_scale_from_window: bool = True
    smoothing: bool = False
    track_timeout: float = 1.0
    image_transport: str = "raw"
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS
    max_decode_side: int = 2048
    use_depth: bool = False
    depth_slop: float = 0.05
    output_frame: str = ""
    qos_reliability: str = "auto"
    qos_depth: int = 5
    publish_debug_image: bool = False
    marker_lifetime: float = 0.5
    diagnostics_period: float = 1.0
    random_weights: bool = False
    publish_tf: bool = False
    publish_joint_states: bool = False
    publish_detections: bool = False
    publish_humans: bool = False
    enabled: bool = True


# name -> (description, (low, high) for numbers or None)
_DESCRIPTIONS: dict[str, tuple[str, tuple[float, float] | None]] = {
    "weights": ("Path of the released Keras .h5/.hdf5 weights (or a converted .pt checkpoint).", None),
    "model": ("Network preset: ntu_multitask (3D, NTU actions) or penn_multitask (2D, Penn).", None),
    "backend": (f"Inference back end: {', '.join(BACKEND_NAMES)}.", None),
    "device": ("Inference device: auto, cpu, cuda or cuda:N.", None),
    "precision": (
        f"Arithmetic: {', '.join(PRECISIONS)}; reduced/auto take bf16 on a CPU, fp16 on a GPU, only where "
        "the precision guard measured it safe for these weights (deephar-ros check-precision), else fp32.",
        None,
    ),
    "detector": (f"Person detector: {', '.join(DETECTOR_CHOICES)}.", None),
    "detector_weights": (
        "A YOLOX detector's ONNX file; empty: the one `deephar-ros download --detector NAME` cached.",
        None,
    ),
    "person_class_ids": (
        "With detector topic: the class ids (strings) of a person in the detections (COCO: 0); not empty.",
        None,
    ),
    "crop_source": (
        "Crops from the detector on every frame, or from each track's last joints (pose): "
        f"{', '.join(CROP_SOURCES)}.",
        None,
    ),
    "detect_every_n_frames": ("With crop_source pose: run the detector every n-th frame.", (1, 1000)),
    "min_detection_score": (
        "Person boxes scoring below this are ignored; -1: the detector's own (hog 0.6, yolox 0.3).",
        (-1.0, 1.0),
    ),
    "min_joint_confidence": (
        "Joints below this confidence are left out of the markers, TF and the REP-155 outputs"
        " (random_weights: 0 at start-up, so untrained joints show; a value set live is used as given).",
        (0.0, 1.0),
    ),
    "max_people": ("Most people estimated per frame (largest boxes first).", (1, 64)),
    "flip_tta": ("Average each crop with its mirror image (twice the network time).", None),
    "action_every_n_frames": ("Run the action head on every n-th frame of a track.", (1, 1000)),
    "clip_stride": (
        "0: action clips sample by time at the authors' spacing (8/30 s NTU, 6/30 s Penn), whatever the "
        "camera's rate or drops; N: every N-th frame of a track, whatever its stamps.",
        (0, 1000),
    ),
    "action_top_k": ("Labels per action message, best first; 0 for all.", (0, 1000)),
    "min_action_confidence": (
        "An action whose top score (softmax probability) is below this is uncertain: label empty, label_id"
        " -1, uncertain true (0.5: the label is likelier than all others together); 0: always a label.",
        (0.0, 1.0),
    ),
    "action_scoring": (
        f"How recent clips' action scores combine: {', '.join(SCORINGS)}"
        " (authors: product, overlapping clips).",
        None,
    ),
    "mirrored_action_pass": (
        "The authors' second action pass on mirrored crops (twice the network time).",
        None,
    ),
    "action_window": (
        "Action clips in one window per clip as the authors crop, or per frame: "
        f"{', '.join(ACTION_WINDOWS)}.",
        None,
    ),
    "depth_scale_from_window": (
        "Read z over 1 m times the crop's size against the authors' window on the joints (false: 1 m).",
        None,
    ),
    "smoothing": ("One Euro filter on the joints of each track.", None),
    "track_timeout": ("Seconds without a match before a track retires.", (0.01, 3600.0)),
    "image_transport": ("raw: subscribe to image; compressed: to image/compressed (JPEG, PNG).", None),
    "max_image_pixels": (
        "Largest colour image (width x height) accepted or decoded; larger ones are refused and counted"
        " (bad_input.image_too_many_pixels) before a byte is decoded.",
        (MIN_IMAGE_SIDE**2, MAX_IMAGE_PIXELS),
    ),
    "max_decode_side": (
        "Compressed JPEGs larger than this on a side are decoded at 1/2, 1/4 or 1/8 (in the DCT domain)"
        " until they fit; the outputs stay in the full image's pixels. 0: always at full size.",
        (0, 16384),
    ),
    "use_depth": ("Pair each image with the aligned depth image for the root depth.", None),
    "depth_slop": ("Largest stamp difference (s) between a paired image and depth image.", (0.0, 1.0)),
    "output_frame": (
        "Frame of every output: the 3D points are transformed by TF at the image stamp (needs the"
        " transform from the image's frame); empty: the image's own frame_id.",
        None,
    ),
    "qos_reliability": (
        f"Reliability of the camera subscriptions: {', '.join(RELIABILITY_CHOICES)}"
        " (auto: reliable when every publisher of the topic is, else best_effort).",
        None,
    ),
    "qos_depth": ("History depth of the camera subscriptions.", (1, 1000)),
    "publish_debug_image": ("Publish the annotated image on debug_image.", None),
    "marker_lifetime": (
        "Least seconds a skeleton marker stays without an update (markers live 3 measured frame"
        " intervals when that is longer, so they never blink); 0: forever.",
        (0.0, 3600.0),
    ),
    "diagnostics_period": ("Seconds between /diagnostics messages.", (0.05, 3600.0)),
    "random_weights": ("Random network weights: plumbing tests only, the outputs mean nothing.", None),
    "publish_tf": (
        "Broadcast REP-155 TF frames: body_<id> at the mid-hip (x forward, z up) and <link>_<id> per joint"
        " under it (human_description link names); needs tf2_ros.",
        None,
    ),
    "publish_joint_states": (
        "Publish sensor_msgs/JointState on /humans/bodies/<id>/joint_states: the human_description elbow"
        " and knee joints (l_elbow_<id>, ...; rad), the only ones a skeleton of points defines.",
        None,
    ),
    "publish_detections": (
        "Publish vision_msgs/Detection2DArray (track ids) on detections and LabelInfo on label_info;"
        " needs vision_msgs.",
        None,
    ),
    "publish_humans": (
        "REP-155 topics (needs hri_msgs): /humans/bodies/tracked (IdsList), /humans/bodies/<id>/roi"
        " (NormalizedRegionOfInterest2D) and /humans/bodies/<id>/skeleton2d (Skeleton2D).",
        None,
    ),
    "enabled": ("false: images are ignored and tracks retire (as the ~/enable service does).", None),
}


def _descriptor(name: str) -> ParameterDescriptor:
    description, bounds = _DESCRIPTIONS[name]
    live = name in LIVE_PARAMETERS
    descriptor = ParameterDescriptor(
        name=name, description=description + (LIVE_NOTE if live else RESTART_NOTE), read_only=not live
    )
    default = getattr(PerceptionParameters, name)
    if bounds is not None and isinstance(default, int) and not isinstance(default, bool):
        descriptor.integer_range = [IntegerRange(from_value=int(bounds[0]), to_value=int(bounds[1]), step=1)]
    elif bounds is not None:
        descriptor.floating_point_range = [
            FloatingPointRange(from_value=float(bounds[0]), to_value=float(bounds[1]), step=0.0)
        ]
    return descriptor


def declare_parameters(node: Node) -> PerceptionParameters:
    """Declare every parameter on node and return their validated values.

    Raises rclpy's InvalidParameterValueException / InvalidParameterTypeException for a value
    out of range or of the wrong type, and ValueError for a bad choice or combination.
    """
    for field in fields(PerceptionParameters):
        node.declare_parameter(field.name, field.default, _descriptor(field.name))
    values = {field.name: _declared_value(node, field.name) for field in fields(PerceptionParameters)}
    parameters = PerceptionParameters(**values)
    validate(parameters)
    return parameters


def _declared_value(node: Node, name: str) -> object:
    """A declared parameter's value; string arrays as tuples, and a YAML `[]` (which rcl reads as
    a parameter of no type, "not initialized") as the empty tuple."""
    try:
        value = node.get_parameter(name).value
    except ParameterUninitializedException:
        value = ()
    return tuple(value) if isinstance(getattr(PerceptionParameters, name), tuple) else value


def changed(parameters: PerceptionParameters, changes: Iterable[Parameter]) -> PerceptionParameters:
    """parameters with the values of a `ros2 param set` (string arrays as tuples)."""
    values = {
        change.name: tuple(change.value) if isinstance(change.value, list | tuple) else change.value
        for change in changes
    }
    return replace(parameters, **values)


def live_change_refusal(parameters: PerceptionParameters, changes: Iterable[Parameter]) -> str | None:
    """Why a run-time change cannot be applied (the reason `ros2 param set` prints), or None.

    rclpy has already refused read-only parameters, wrong types and values out of range; this
    checks the choices and combinations, as at start-up.
    """
    try:
        validate(changed(parameters, changes))
    except ValueError as error:
        return str(error)
    return None


def validate(parameters: PerceptionParameters) -> None:
    """Refuse a choice or a combination of values that cannot work, with a message saying why."""
    if parameters.model not in preset_names():
        raise ValueError(f"parameter model='{parameters.model}' is not one of {preset_names()}")
    if parameters.backend not in BACKEND_NAMES:
        raise ValueError(f"parameter backend='{parameters.backend}' is not one of {BACKEND_NAMES}")
    if parameters.precision not in PRECISIONS:
        raise ValueError(f"parameter precision='{parameters.precision}' is not one of {PRECISIONS}")
    if parameters.image_transport not in TRANSPORT_CHOICES:
        raise ValueError(
            f"parameter image_transport='{parameters.image_transport}' is not one of {TRANSPORT_CHOICES}"
        )
    if parameters.action_scoring not in SCORINGS:
        raise ValueError(f"parameter action_scoring='{parameters.action_scoring}' is not one of {SCORINGS}")
    if parameters.crop_source not in CROP_SOURCES:
        raise ValueError(f"parameter crop_source='{parameters.crop_source}' is not one of {CROP_SOURCES}")
    if parameters.detector not in DETECTOR_CHOICES:
        raise ValueError(f"parameter detector='{parameters.detector}' is not one of {DETECTOR_CHOICES}")
    if parameters.action_window not in ACTION_WINDOWS:
        raise ValueError(
            f"parameter action_window='{parameters.action_window}' is not one of {ACTION_WINDOWS}"
        )
    if parameters.detector_weights and parameters.detector not in YOLOX_DETECTORS:
        raise ValueError(
            f"parameter detector_weights is set but detector='{parameters.detector}' takes no weights file"
        )
    if parameters.detector == "topic" and not parameters.person_class_ids:
        raise ValueError(
            "parameter person_class_ids is empty with detector='topic': no detection would be a person;"
            ' give the class ids of a person (e.g. ["person", "0"])'
        )
    if parameters.detector == "topic" and parameters.use_depth:
        raise ValueError("parameter detector='topic' cannot be combined with use_depth (yet): choose one")
    if parameters.qos_reliability not in RELIABILITY_CHOICES:
        raise ValueError(
            f"parameter qos_reliability='{parameters.qos_reliability}' is not one of {RELIABILITY_CHOICES}"
        )
    if not parameters.weights and not parameters.random_weights:
        raise ValueError(
            "parameter weights is empty: give the path of a weights file (see README, 'Weights')"
        )
    if parameters.weights and parameters.random_weights:
        raise ValueError("parameters weights and random_weights are both set: choose one")
