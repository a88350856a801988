"""Starts the deephar_perception node, optionally the demo video source and RViz.

    ros2 launch deephar_ros perception.launch.py use_demo_source:=true rviz:=true random_weights:=true
    ros2 launch deephar_ros perception.launch.py image:=/camera/color/image_raw weights:=/path/w.hdf5

The arguments named in the *_PARAMETER_ARGUMENTS tuples override params_file only when given (not
empty), so the YAML file stays the one place for defaults. RViz opens a copy of rviz/deephar.rviz
written to a temp file, made to follow image:=, output_frame:=, publish_debug_image:= and publish_tf:=.

Only launch, launch_ros, PyYAML and the standard library are imported: `ros2 launch` runs this file
in the ROS install's Python, which need not see the Python environment deephar_ros is installed in.
"""

import os
import tempfile

import yaml
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription

PACKAGE = "deephar_ros"
# Launch arguments passed to the node as parameters of the same name when not empty, by type.
PARAMETER_ARGUMENTS = ("weights", "model", "backend", "device", "qos_reliability", "output_frame")
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
TRUE_WORDS = ("true", "1", "yes")
FALSE_WORDS = ("false", "0", "no")
# The demo source's frame_id: RViz's fixed frame when output_frame is not given.
DEMO_FRAME_ID = "camera_optical_frame"
# Names of the displays of rviz/deephar.rviz that the launch arguments switch or point.
RVIZ_CAMERA_IMAGE = "Camera image"
RVIZ_DEBUG_IMAGE = "Debug image"
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


def rviz_config(template: str, image_topic: str, fixed_frame: str, debug_image: bool, tf: bool) -> str:
    """The RViz view of template, showing image_topic in fixed_frame; the debug image and TF displays
    are on only when the node publishes them."""
    view = yaml.safe_load(template)
    manager = view["Visualization Manager"]
    manager["Global Options"]["Fixed Frame"] = fixed_frame
    for display in manager["Displays"]:
        if display["Name"] == RVIZ_CAMERA_IMAGE:
            display["Topic"]["Value"] = image_topic
        elif display["Name"] in (RVIZ_DEBUG_IMAGE, RVIZ_TF):
            shown = debug_image if display["Name"] == RVIZ_DEBUG_IMAGE else tf
            display["Enabled"] = display["Value"] = shown
    return yaml.safe_dump(view, sort_keys=False)


def _arguments(context, names) -> dict[str, str]:
    return {name: LaunchConfiguration(name).perform(context) for name in names}


def _perception_node(context, *args, **kwargs):
    """The node, with the launch arguments that were given laid over params_file."""
    names = PARAMETER_ARGUMENTS + FLOAT_PARAMETER_ARGUMENTS + BOOLEAN_PARAMETER_ARGUMENTS
    return [
        Node(
            package=PACKAGE,
            executable="perception_node",
            name="deephar_perception",
            output="screen",
            parameters=[LaunchConfiguration("params_file"), parameter_overrides(_arguments(context, names))],
            remappings=[
                ("image", LaunchConfiguration("image")),
                ("camera_info", LaunchConfiguration("camera_info")),
                ("depth", LaunchConfiguration("depth")),
            ],
        )
    ]


def _rviz(context, *args, **kwargs):
    """RViz on a temp copy of rviz/deephar.rviz that follows the launch arguments."""
    arguments = _arguments(context, ("image", "output_frame", "publish_debug_image", "publish_tf"))
    share = FindPackageShare(PACKAGE).perform(context)
    with open(os.path.join(share, "rviz", "deephar.rviz")) as template:
        text = rviz_config(
            template.read(),
            image_topic=arguments["image"],
            fixed_frame=arguments["output_frame"] or DEMO_FRAME_ID,
            debug_image=parse_boolean("publish_debug_image", arguments["publish_debug_image"] or "false"),
            tf=parse_boolean("publish_tf", arguments["publish_tf"] or "false"),
        )
    handle, path = tempfile.mkstemp(prefix="deephar_ros_", suffix=".rviz")
    with os.fdopen(handle, "w") as view:
        view.write(text)
    return [Node(package="rviz2", executable="rviz2", name="rviz2", arguments=["-d", path])]


def generate_launch_description() -> LaunchDescription:
    share = FindPackageShare(PACKAGE)
    arguments = [
        DeclareLaunchArgument("image", default_value="/camera/image_raw", description="Colour image topic."),
        DeclareLaunchArgument(
            "camera_info", default_value="/camera/camera_info", description="Camera info topic of the image."
        ),
        DeclareLaunchArgument(
            "depth",
            default_value="/camera/depth/image_raw",
            description="Aligned depth image (use_depth:=true).",
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
            description=f"Output frame_id, RViz fixed frame; empty: the image's ({DEMO_FRAME_ID} in RViz).",
        ),
        DeclareLaunchArgument(
            "random_weights", default_value="", description="true: random weights (plumbing)."
        ),
        DeclareLaunchArgument(
            "publish_debug_image", default_value="", description="true: annotated image out, shown in RViz."
        ),
        DeclareLaunchArgument("use_depth", default_value="", description="true: read the depth topic."),
        DeclareLaunchArgument(
            "publish_tf", default_value="", description="true: TF frames per body, shown in RViz."
        ),
        DeclareLaunchArgument(
            "publish_joint_states", default_value="", description="true: elbow and knee JointState per body."
        ),
        DeclareLaunchArgument(
            "publish_detections", default_value="", description="true: vision_msgs Detection2DArray out."
        ),
        DeclareLaunchArgument(
            "publish_humans", default_value="", description="true: REP-155 /humans/bodies topics."
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
    demo_source = Node(
        package=PACKAGE,
        executable="demo_source",
        name="deephar_demo_source",
        output="screen",
        # value_type: an empty or numeric-looking path stays a string
        parameters=[{"video": ParameterValue(LaunchConfiguration("video"), value_type=str)}],
        remappings=[
            ("image", LaunchConfiguration("image")),
            ("camera_info", LaunchConfiguration("camera_info")),
        ],
        condition=IfCondition(LaunchConfiguration("use_demo_source")),
    )
    return LaunchDescription(
        [
            *arguments,
            demo_source,
            OpaqueFunction(function=_perception_node),
            OpaqueFunction(function=_rviz, condition=IfCondition(LaunchConfiguration("rviz"))),
        ]
    )
