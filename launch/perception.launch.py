"""Starts the deephar_perception node, optionally the demo video source and RViz.

    ros2 launch deephar_ros perception.launch.py use_demo_source:=true rviz:=true random_weights:=true
    ros2 launch deephar_ros perception.launch.py image:=/camera/color/image_raw weights:=/path/w.hdf5

weights, model, backend and device override params_file only when given (not empty), so the
YAML file stays the one place for defaults.
"""

from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription

PACKAGE = "deephar_ros"
# Launch arguments passed to the node as parameters of the same name when not empty.
PARAMETER_ARGUMENTS = ("weights", "model", "backend", "device")
# Launch arguments holding booleans, passed as parameters when not empty.
BOOLEAN_PARAMETER_ARGUMENTS = ("random_weights", "publish_debug_image", "use_depth")


def _perception_node(context, *args, **kwargs):
    """The node, with the launch arguments that were given laid over params_file."""
    overrides = {}
    for name in PARAMETER_ARGUMENTS:
        value = LaunchConfiguration(name).perform(context)
        if value:
            overrides[name] = value
    for name in BOOLEAN_PARAMETER_ARGUMENTS:
        value = LaunchConfiguration(name).perform(context).strip().lower()
        if value:
            overrides[name] = value in ("true", "1", "yes")
    return [
        Node(
            package=PACKAGE,
            executable="perception_node",
            name="deephar_perception",
            output="screen",
            parameters=[LaunchConfiguration("params_file"), overrides],
            remappings=[
                ("image", LaunchConfiguration("image")),
                ("camera_info", LaunchConfiguration("camera_info")),
                ("depth", LaunchConfiguration("depth")),
            ],
        )
    ]


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
            "random_weights", default_value="", description="true: random weights (plumbing)."
        ),
        DeclareLaunchArgument(
            "publish_debug_image", default_value="", description="true: annotated image out."
        ),
        DeclareLaunchArgument("use_depth", default_value="", description="true: read the depth topic."),
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
            "video", default_value="data/vtest.avi", description="Video of the demo source."
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
        parameters=[{"video": LaunchConfiguration("video")}],
        remappings=[
            ("image", LaunchConfiguration("image")),
            ("camera_info", LaunchConfiguration("camera_info")),
        ],
        condition=IfCondition(LaunchConfiguration("use_demo_source")),
    )
    rviz = Node(
        package="rviz2",
        executable="rviz2",
        name="rviz2",
        arguments=["-d", PathJoinSubstitution([share, "rviz", "deephar.rviz"])],
        condition=IfCondition(LaunchConfiguration("rviz")),
    )
    return LaunchDescription([*arguments, demo_source, OpaqueFunction(function=_perception_node), rviz])
