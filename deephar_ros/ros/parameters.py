"""The perception node's parameters: declaration with descriptors and ranges, then validation.

Ranges are enforced by rclpy when the parameters are declared (an override outside a range
raises there); the choices among strings and the cross-parameter rules are checked here. All
parameters are read-only: each one shapes the pipeline or a subscription built at start-up.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.node import Node

from deephar_ros.action_buffer import SCORINGS
from deephar_ros.config import preset_names
from deephar_ros.detection import DETECTORS
from deephar_ros.engine import BACKEND_NAMES
from deephar_ros.pipeline import ACTION_WINDOWS, CROP_SOURCES
from deephar_ros.weights_download import RELEASED_DETECTORS

RELIABILITY_CHOICES = ("auto", "best_effort", "reliable")
from deephar_ros.choices import PRECISIONS
# "topic": boxes from another detector's vision_msgs/Detection2DArray on detections_in (ROS installs).
DETECTOR_CHOICES = (*DETECTORS, "topic")
TRANSPORT_CHOICES = ("raw", "compressed")


@dataclass(frozen=True)
class PerceptionParameters:
    """The values of every parameter of the perception node, with their defaults."""

    weights: str = ""
    model: str = "ntu_multitask"
    backend: str = "auto"
    device: str = "auto"
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
    action_scoring: str = "mean"
    mirrored_action_pass: bool = False
    action_window: str = "clip"
    depth_scale_from_window: bool = True
    smoothing: bool = False
    track_timeout: float = 1.0
    image_transport: str = "raw"
    use_depth: bool = False
    depth_slop: float = 0.05
    output_frame: str = ""
    qos_reliability: str = "auto"
    qos_depth: int = 5
    precision: str = "fp32"
    publish_debug_image: bool = False
    marker_lifetime: float = 0.5
    diagnostics_period: float = 1.0
    random_weights: bool = False
    publish_tf: bool = False
    publish_joint_states: bool = False
    publish_detections: bool = False
    publish_humans: bool = False


# name -> (description, (low, high) for numbers or None)
_DESCRIPTIONS: dict[str, tuple[str, tuple[float, float] | None]] = {
    "weights": ("Path of the released Keras .h5/.hdf5 weights (or a converted .pt checkpoint).", None),
    "model": ("Network preset: ntu_multitask (3D, NTU actions) or penn_multitask (2D, Penn).", None),
    "backend": (f"Inference back end: {', '.join(BACKEND_NAMES)}.", None),
    "device": ("Inference device: auto, cpu, cuda or cuda:N.", None),
    "detector": (f"Person detector: {', '.join(DETECTOR_CHOICES)}.", None),
    "detector_weights": (
        "A YOLOX detector's ONNX file; empty: the one `deephar-ros download --detector NAME` cached.",
        None,
    ),
    "person_class_ids": (
        "With detector topic: the class ids (strings) of a person in the detections (COCO: 0).",
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
    "min_joint_confidence": ("Joints below this confidence are left out of the markers.", (0.0, 1.0)),
    "max_people": ("Most people estimated per frame (largest boxes first).", (1, 64)),
    "flip_tta": ("Average each crop with its mirror image (twice the network time).", None),
    "action_every_n_frames": ("Run the action head on every n-th frame of a track.", (1, 1000)),
    "clip_stride": (
        "Frames between the samples of an action clip; 0: the authors' for the label set.",
        (0, 1000),
    "precision": (
        f"CPU arithmetic: {', '.join(PRECISIONS)}; reduced/auto take bf16 only where the precision "
        "guard measured it safe for these weights (deephar-ros check-precision), else fp32.",
        None,
    ),
    ),
    "action_top_k": ("Labels per action message, best first; 0 for all.", (0, 1000)),
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
    "use_depth": ("Pair each image with the aligned depth image for the root depth.", None),
    "depth_slop": ("Largest stamp difference (s) between a paired image and depth image.", (0.0, 1.0)),
    "output_frame": ("frame_id of every output; empty: the source image's frame_id.", None),
    "qos_reliability": (
        f"Reliability of the camera subscriptions: {', '.join(RELIABILITY_CHOICES)}"
        " (auto: reliable when every publisher of the topic is, else best_effort).",
        None,
    ),
    "qos_depth": ("History depth of the camera subscriptions.", (1, 1000)),
    "publish_debug_image": ("Publish the annotated image on debug_image.", None),
    "marker_lifetime": ("Seconds a skeleton marker stays without an update; 0: forever.", (0.0, 3600.0)),
    "diagnostics_period": ("Seconds between /diagnostics messages.", (0.05, 3600.0)),
    "random_weights": ("Random network weights: plumbing tests only, the outputs mean nothing.", None),
    "publish_tf": (
        "Broadcast TF frames body_<id> (root joint, in the output frame) and body_<id>/<joint> under it;"
        " needs tf2_ros.",
        None,
    ),
    "publish_joint_states": (
        "Publish sensor_msgs/JointState of elbow and knee flexion (rad) on /humans/bodies/<id>/joint_states.",
        None,
    ),
    "publish_detections": (
        "Publish vision_msgs/Detection2DArray (track ids) on detections and LabelInfo on label_info;"
        " needs vision_msgs.",
        None,
    ),
    "publish_humans": (
        "REP-155 topics: /humans/bodies/<id>/roi (sensor_msgs/RegionOfInterest) and, where hri_msgs is"
        " installed, /humans/bodies/tracked (hri_msgs/IdsList).",
        None,
    ),
}


def _descriptor(name: str) -> ParameterDescriptor:
    description, bounds = _DESCRIPTIONS[name]
    descriptor = ParameterDescriptor(name=name, description=description, read_only=True)
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
    values = {field.name: node.get_parameter(field.name).value for field in fields(PerceptionParameters)}
    for field in fields(PerceptionParameters):  # rclpy gives string arrays back as lists
        if isinstance(field.default, tuple):
            values[field.name] = tuple(values[field.name])
    parameters = PerceptionParameters(**values)
    validate(parameters)
    return parameters


def validate(parameters: PerceptionParameters) -> None:
    """Refuse a choice or a combination of values that cannot work, with a message saying why."""
    if parameters.model not in preset_names():
        raise ValueError(f"parameter model='{parameters.model}' is not one of {preset_names()}")
    if parameters.backend not in BACKEND_NAMES:
        raise ValueError(f"parameter backend='{parameters.backend}' is not one of {BACKEND_NAMES}")
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
    if parameters.detector_weights and parameters.detector not in RELEASED_DETECTORS:
        raise ValueError(
            f"parameter detector_weights is set but detector='{parameters.detector}' takes no weights file"
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
    if parameters.precision not in PRECISIONS:
        raise ValueError(f"parameter precision='{parameters.precision}' is not one of {PRECISIONS}")
