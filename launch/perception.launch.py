"""Starts the deephar_perception node, optionally the demo video source and RViz, in one namespace.

    ros2 launch deephar_ros perception.launch.py use_demo_source:=true rviz:=true random_weights:=true
    ros2 launch deephar_ros perception.launch.py image:=/camera/color/image_raw weights:=/path/w.hdf5
    ros2 launch deephar_ros perception.launch.py namespace:=/robot1/people detector:=topic \
        detections_in:=/yolo/detections image:=/camera/color/image_raw random_weights:=true

Every output is under `namespace` (default /deephar): skeletons, actions, markers, debug_image,
detections, label_info and the node's own services and parameters. Three kinds of name stay where
their conventions put them: /diagnostics (the diagnostic aggregator's), /tf, and REP-155's /humans
(HRI consumers subscribe there). The camera topics and detections_in are remappable; relative names
(the defaults) resolve in the namespace, so the demo camera's topics are under it too.

The arguments named in the *_PARAMETER_ARGUMENTS tuples override params_file only when given (not
empty), so the YAML file stays the one place for defaults. Every argument is checked before any
process starts (a typo is an error, not a default; rviz:=true needs rviz2 installed), and the whole
launch shuts down when the perception node or the demo camera exits, so nothing is left running
alone. RViz opens a copy of rviz/deephar.rviz written to a temp file, made to follow the namespace,
image:=, output_frame:=, publish_debug_image:= and publish_tf:=.

Only launch, launch_ros, ament_index_python, PyYAML and the standard library are imported: `ros2
launch` runs this file in the ROS install's Python, which need not see deephar_ros's environment.
"""

import os
import re
import tempfile

import yaml
from launch.actions import DeclareLaunchArgument, OpaqueFunction, RegisterEventHandler, Shutdown
from launch.event_handlers import OnProcessExit
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription

PACKAGE = "deephar_ros"
NODE_NAME = "deephar_perception"
# Launch arguments passed to the node as parameters of the same name when not empty, by type.
PARAMETER_ARGUMENTS = (
    "weights",
    "model",
    "backend",
    "device",
    "precision",
    "detector",
    "qos_reliability",
    "output_frame",
)
# String arguments that take one of a few words (deephar_ros.choices, which this file cannot import).
CHOICE_ARGUMENTS = {"precision": ("fp32", "reduced", "auto")}
FLOAT_PARAMETER_ARGUMENTS = ("min_joint_confidence",)
BOOLEAN_PARAMETER_ARGUMENTS = (
    "random_weights",
    "publish_debug_image",
    "use_depth",
    "publish_tf",
    "publish_joint_states",
    "publish_detections",
    "publish_humans",
)
# Switches of the launch itself (not node parameters): checked like the boolean parameters.
LAUNCH_SWITCHES = ("use_demo_source", "rviz")
TRUE_WORDS = ("true", "1", "yes")
FALSE_WORDS = ("false", "0", "no")
DEFAULT_NAMESPACE = "/deephar"
# A ROS name: tokens of letters, digits and underscores, not starting with a digit, joined by "/".
NAMESPACE_PATTERN = re.compile(r"^/?([A-Za-z_][A-Za-z0-9_]*(/[A-Za-z_][A-Za-z0-9_]*)*)?/?$")
# The demo source's frame_id: RViz's fixed frame when output_frame is not given.
DEMO_FRAME_ID = "camera_optical_frame"
# Names of the displays of rviz/deephar.rviz that the launch arguments switch or point.
RVIZ_CAMERA_IMAGE = "Camera image"
RVIZ_DEBUG_IMAGE = "Debug image"
RVIZ_SKELETONS = "Skeletons"
RVIZ_TF = "TF"


def parse_boolean(name: str, value: str) -> bool:
    """A launch argument's true/false; a clear error for anything else (a typo must not mean false)."""
    word = value.strip().lower()
    if word not in TRUE_WORDS + FALSE_WORDS:
        raise ValueError(f"launch argument {name}:={value!r} is not one of {TRUE_WORDS + FALSE_WORDS}")
    return word in TRUE_WORDS


def parameter_overrides(arguments: dict[str, str]) -> dict[str, str | float | bool]:
    """The node parameters the given (non-empty) launch arguments set, typed as the node declares them."""
    overrides: dict[str, str | float | bool] = {}
    for name in PARAMETER_ARGUMENTS:
        if arguments.get(name, ""):
            overrides[name] = arguments[name]
    for name, choices in CHOICE_ARGUMENTS.items():
        if name in overrides and overrides[name] not in choices:
            raise ValueError(f"launch argument {name}:={overrides[name]!r} is not one of {choices}")
    for name in FLOAT_PARAMETER_ARGUMENTS:
        if arguments.get(name, "").strip():
            try:
                overrides[name] = float(arguments[name])
            except ValueError:
                raise ValueError(f"launch argument {name}:={arguments[name]!r} is not a number") from None
    for name in BOOLEAN_PARAMETER_ARGUMENTS:
        if arguments.get(name, "").strip():
            overrides[name] = parse_boolean(name, arguments[name])
    return overrides


def launch_switches(arguments: dict[str, str]) -> dict[str, bool]:
    """use_demo_source and rviz as booleans, with the parameters' words (yes/no, 1/0 too)."""
    return {name: parse_boolean(name, arguments.get(name, "") or "false") for name in LAUNCH_SWITCHES}


def checked_namespace(value: str) -> str:
    """The namespace argument as an absolute ROS namespace ("/" for none); a clear error if malformed."""
    if not NAMESPACE_PATTERN.match(value.strip()):
        raise ValueError(
            f"launch argument namespace:={value!r} is not a ROS namespace (e.g. /deephar or /robot1/people)"
        )
    return "/" + value.strip().strip("/")


def under_namespace(namespace: str, name: str) -> str:
    """The absolute topic a node in namespace reaches by name (absolute names stay as they are)."""
    if name.startswith("/"):
        return name
    return f"{namespace.rstrip('/')}/{name}"


def rviz_config(
    template: str, namespace: str, image_topic: str, fixed_frame: str, debug_image: bool, tf: bool
) -> str:
    """The RViz view of template, showing the node's outputs in namespace and image_topic in fixed_frame;
    the debug image and TF displays are on only when the node publishes them."""
    view = yaml.safe_load(template)
    manager = view["Visualization Manager"]
    manager["Global Options"]["Fixed Frame"] = fixed_frame
    for display in manager["Displays"]:
        if display["Name"] == RVIZ_CAMERA_IMAGE:
            display["Topic"]["Value"] = under_namespace(namespace, image_topic)
        elif display["Name"] == RVIZ_SKELETONS:
            display["Topic"]["Value"] = under_namespace(namespace, "markers")
        elif display["Name"] == RVIZ_DEBUG_IMAGE:
            display["Topic"]["Value"] = under_namespace(namespace, "debug_image")
            display["Enabled"] = display["Value"] = debug_image
        elif display["Name"] == RVIZ_TF:
            display["Enabled"] = display["Value"] = tf
    return yaml.safe_dump(view, sort_keys=False)


def checked_arguments(
    arguments: dict[str, str], rviz2_found: bool
) -> tuple[dict[str, object], dict[str, bool]]:
    """(the node's parameter overrides, the launch switches), or a ValueError naming the first bad
    argument; rviz:=true without rviz2 installed is one."""
    overrides = parameter_overrides(arguments)
    switches = launch_switches(arguments)
    checked_namespace(arguments.get("namespace", ""))
    if switches["rviz"] and not rviz2_found:
        raise ValueError(
            "launch argument rviz:=true but rviz2 is not installed (apt install ros-$ROS_DISTRO-rviz2):"
            " install it or leave rviz:=false"
        )
    return overrides, switches


def _rviz2_found() -> bool:
    from ament_index_python.packages import PackageNotFoundError, get_package_prefix

    try:
        get_package_prefix("rviz2")
    except PackageNotFoundError:
        return False
    return True


ARGUMENT_NAMES = (
    PARAMETER_ARGUMENTS
    + FLOAT_PARAMETER_ARGUMENTS
    + BOOLEAN_PARAMETER_ARGUMENTS
    + LAUNCH_SWITCHES
    + ("namespace", "image", "camera_info", "depth", "detections_in", "video")
)


def _launch_setup(context, *args, **kwargs):
    """Every process of the launch, built only once every argument passed its check."""
    arguments = {name: LaunchConfiguration(name).perform(context) for name in ARGUMENT_NAMES}
    try:
        overrides, switches = checked_arguments(arguments, rviz2_found=_rviz2_found())
    except ValueError as error:
        raise RuntimeError(f"{error}; nothing was started") from None
    namespace = checked_namespace(arguments["namespace"])
    camera = [(name, arguments[name]) for name in ("image", "camera_info")]
    perception = Node(
        package=PACKAGE,
        executable="perception_node",
        name=NODE_NAME,
        namespace=namespace,
        output="screen",
        parameters=[LaunchConfiguration("params_file"), overrides],
        remappings=[*camera, ("depth", arguments["depth"]), ("detections_in", arguments["detections_in"])],
    )
    actions = [perception, _shut_down_when_it_exits(perception, NODE_NAME)]
    if switches["use_demo_source"]:
        demo_source = Node(
            package=PACKAGE,
            executable="demo_source",
            name="deephar_demo_source",
            namespace=namespace,
            output="screen",
            # value_type: an empty or numeric-looking path stays a string
            parameters=[{"video": ParameterValue(arguments["video"], value_type=str)}],
            remappings=camera,
        )
        actions += [demo_source, _shut_down_when_it_exits(demo_source, "deephar_demo_source")]
    if switches["rviz"]:
        actions.append(_rviz(context, arguments, namespace, overrides))
    return actions


def _shut_down_when_it_exits(process: Node, name: str) -> RegisterEventHandler:
    """The whole launch ends with this process: no camera without its node, no node without its camera.

    A failed exit (a start-up error) ends `ros2 launch` with a non-zero status too.
    """

    def on_exit(event, context):
        if context.is_shutdown:  # Ctrl-C or the other process ended it: nothing more to do
            return None
        if event.returncode not in (0, None):
            raise RuntimeError(f"{name} exited with status {event.returncode}: the launch shuts down with it")
        return [Shutdown(reason=f"{name} exited: the launch shuts down with it")]

    return RegisterEventHandler(OnProcessExit(target_action=process, on_exit=on_exit))


def _rviz(context, arguments: dict[str, str], namespace: str, overrides: dict[str, object]) -> Node:
    """RViz on a temp copy of rviz/deephar.rviz that follows the launch arguments."""
    share = FindPackageShare(PACKAGE).perform(context)
    with open(os.path.join(share, "rviz", "deephar.rviz")) as template:
        text = rviz_config(
            template.read(),
            namespace=namespace,
            image_topic=arguments["image"],
            fixed_frame=arguments["output_frame"] or DEMO_FRAME_ID,
            debug_image=bool(overrides.get("publish_debug_image", False)),
            tf=bool(overrides.get("publish_tf", False)),
        )
    handle, path = tempfile.mkstemp(prefix="deephar_ros_", suffix=".rviz")
    with os.fdopen(handle, "w") as view:
        view.write(text)
    return Node(
        package="rviz2", executable="rviz2", name="rviz2", namespace=namespace, arguments=["-d", path]
    )


def generate_launch_description() -> LaunchDescription:
    share = FindPackageShare(PACKAGE)
    arguments = [
        DeclareLaunchArgument(
            "namespace",
            default_value=DEFAULT_NAMESPACE,
            description="Namespace of every output (not /diagnostics, /tf, REP-155's /humans); / for none.",
        ),
        DeclareLaunchArgument(
            "image",
            default_value="camera/image_raw",
            description="Colour image topic; relative names resolve in the namespace.",
        ),
        DeclareLaunchArgument(
            "camera_info", default_value="camera/camera_info", description="Camera info topic of the image."
        ),
        DeclareLaunchArgument(
            "depth",
            default_value="camera/depth/image_raw",
            description="Aligned depth image (use_depth:=true).",
        ),
        DeclareLaunchArgument(
            "detections_in",
            default_value="detections_in",
            description="Another detector's Detection2DArray (detector:=topic), e.g. /yolo/detections.",
        ),
        DeclareLaunchArgument("weights", default_value="", description="Weights file; empty: params_file's."),
        DeclareLaunchArgument("model", default_value="", description="Network preset; empty: params_file's."),
        DeclareLaunchArgument(
            "backend", default_value="", description="Inference back end; empty: params_file's."
        ),
        DeclareLaunchArgument(
            "device", default_value="", description="cpu, cuda, cuda:N; empty: params_file's."
        ),
        DeclareLaunchArgument(
            "precision",
            default_value="",
            description="fp32, reduced or auto (bf16/fp16 only where the precision guard measured it safe"
            " for these weights); empty: params_file's.",
        ),
        DeclareLaunchArgument(
            "detector",
            default_value="",
            description="hog, full-frame, yolox-*, or topic (boxes on detections_in); empty: params_file's.",
        ),
        DeclareLaunchArgument(
            "min_joint_confidence",
            default_value="",
            description="Joints below this confidence (0 to 1) are left out; empty: params_file's.",
        ),
        DeclareLaunchArgument(
            "qos_reliability",
            default_value="",
            description="Camera subscriptions: auto, best_effort or reliable; empty: params_file's.",
        ),
        DeclareLaunchArgument(
            "output_frame",
            default_value="",
            description="Frame the 3D outputs are transformed into (TF), RViz's fixed frame; empty: the"
            f" image's ({DEMO_FRAME_ID} in RViz).",
        ),
        DeclareLaunchArgument(
            "random_weights", default_value="", description="true: random weights (plumbing)."
        ),
        DeclareLaunchArgument(
            "publish_debug_image", default_value="", description="true: annotated image out, shown in RViz."
        ),
        DeclareLaunchArgument("use_depth", default_value="", description="true: read the depth topic."),
        DeclareLaunchArgument(
            "publish_tf", default_value="", description="true: REP-155 TF frames per body, shown in RViz."
        ),
        DeclareLaunchArgument(
            "publish_joint_states", default_value="", description="true: elbow and knee JointState per body."
        ),
        DeclareLaunchArgument(
            "publish_detections", default_value="", description="true: vision_msgs Detection2DArray out."
        ),
        DeclareLaunchArgument(
            "publish_humans", default_value="", description="true: REP-155 /humans/bodies topics (hri_msgs)."
        ),
        DeclareLaunchArgument(
            "params_file",
            default_value=PathJoinSubstitution([share, "config", "perception.yaml"]),
            description="Parameter file of the perception node.",
        ),
        DeclareLaunchArgument(
            "use_demo_source",
            default_value="false",
            description="true: publish the video file as the camera.",
        ),
        DeclareLaunchArgument(
            "video",
            default_value="",
            description="Video of the demo source; relative: from the working directory; empty: the sample.",
        ),
        DeclareLaunchArgument(
            "rviz", default_value="false", description="true: open RViz with rviz/deephar.rviz."
        ),
    ]
    return LaunchDescription([*arguments, OpaqueFunction(function=_launch_setup)])
