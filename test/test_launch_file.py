"""launch/perception.launch.py, config/perception.yaml and rviz/deephar.rviz agree with the nodes.

Where `launch` and `launch_ros` are importable (a ROS 2 install) the launch description is built;
everywhere the file is also checked with `ast`, so CI without ROS launch still catches a launch
argument, a parameter or an executable name that drifted.
"""

from __future__ import annotations

import ast
import importlib.util
import os
from dataclasses import asdict, fields
from pathlib import Path

import pytest
import rclpy
import yaml
from rclpy.node import Node

from deephar_ros.ros.demo_source import DEFAULT_VIDEO
from deephar_ros.ros.demo_source import NODE_NAME as DEMO_NODE_NAME
from deephar_ros.ros.parameters import PerceptionParameters, declare_parameters
from deephar_ros.ros.perception_node import NODE_NAME

REPO = Path(__file__).resolve().parents[1]
LAUNCH_FILE = REPO / "launch" / "perception.launch.py"
PARAMS_FILE = REPO / "config" / "perception.yaml"
RVIZ_FILE = REPO / "rviz" / "deephar.rviz"
REQUIRED_ARGUMENTS = {
    "image",
    "camera_info",
    "depth",
    "weights",
    "model",
    "device",
    "backend",
    "use_demo_source",
    "video",
    "rviz",
    "params_file",
}
DOMAIN_ID = 1 + (os.getpid() + 13) % 200
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"


def calls(tree: ast.AST, name: str) -> list[ast.Call]:
    """Every call of a function or class called name."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if called == name:
                found.append(node)
    return found


def keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((kw.value for kw in call.keywords if kw.arg == name), None)


def module_constant(tree: ast.Module, name: str) -> object:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError(f"{name} is not defined in {LAUNCH_FILE.name}")


@pytest.fixture(scope="module")
def launch_tree() -> ast.Module:
    return ast.parse(LAUNCH_FILE.read_text(), filename=str(LAUNCH_FILE))


def declared_arguments(tree: ast.Module) -> dict[str, ast.Call]:
    return {ast.literal_eval(call.args[0]): call for call in calls(tree, "DeclareLaunchArgument")}


def test_launch_file_declares_every_argument_with_a_default_and_description(launch_tree):
    arguments = declared_arguments(launch_tree)
    assert set(arguments) >= REQUIRED_ARGUMENTS
    for name, call in arguments.items():
        assert keyword(call, "default_value") is not None, name
        assert keyword(call, "description") is not None, name
    assert ast.literal_eval(keyword(arguments["video"], "default_value")) == DEFAULT_VIDEO
    assert ast.literal_eval(keyword(arguments["use_demo_source"], "default_value")) == "false"
    assert ast.literal_eval(keyword(arguments["rviz"], "default_value")) == "false"


def test_arguments_passed_as_parameters_are_parameters_of_the_node(launch_tree):
    parameter_names = {field.name for field in fields(PerceptionParameters)}
    passed = set(module_constant(launch_tree, "PARAMETER_ARGUMENTS"))
    passed |= set(module_constant(launch_tree, "BOOLEAN_PARAMETER_ARGUMENTS"))
    assert passed <= parameter_names
    assert passed <= set(declared_arguments(launch_tree))
    assert {"weights", "model", "backend", "device"} <= passed


def test_launch_file_starts_the_installed_executables_under_their_node_names(launch_tree):
    setup = ast.parse((REPO / "setup.py").read_text())
    scripts = {
        entry.split("=")[0].strip(): entry.split("=")[1].strip()
        for call in calls(setup, "setup")
        for entry in ast.literal_eval(keyword(call, "entry_points"))["console_scripts"]
    }
    nodes = {
        ast.literal_eval(keyword(call, "executable")): ast.literal_eval(keyword(call, "name"))
        for call in calls(launch_tree, "Node")
    }
    assert nodes["perception_node"] == NODE_NAME
    assert nodes["demo_source"] == DEMO_NODE_NAME
    assert scripts["perception_node"] == "deephar_ros.ros.perception_node:main"
    assert scripts["demo_source"] == "deephar_ros.ros.demo_source:main"
    assert "rviz2" in nodes


def test_params_file_holds_every_parameter_at_its_default():
    loaded = yaml.safe_load(PARAMS_FILE.read_text())
    assert set(loaded) == {NODE_NAME}
    values = loaded[NODE_NAME]["ros__parameters"]
    assert values == asdict(PerceptionParameters())
    for name, value in values.items():  # a 1 where 1.0 is meant fails rclpy's type check
        assert type(value) is type(getattr(PerceptionParameters, name)), name


def test_params_file_loads_into_the_node_parameters():
    context = rclpy.context.Context()
    rclpy.init(context=context, domain_id=DOMAIN_ID)
    try:
        node = Node(
            NODE_NAME,
            context=context,
            cli_args=["--ros-args", "--params-file", str(PARAMS_FILE), "-p", "random_weights:=true"],
        )
        try:
            parameters = declare_parameters(node)
        finally:
            node.destroy_node()
    finally:
        context.try_shutdown()
    assert parameters == PerceptionParameters(random_weights=True)


def test_rviz_view_shows_markers_and_images_in_the_demo_camera_frame():
    view = yaml.safe_load(RVIZ_FILE.read_text())
    manager = view["Visualization Manager"]
    assert manager["Global Options"]["Fixed Frame"] == "camera_optical_frame"
    displays = {display["Class"]: display for display in manager["Displays"]}
    assert displays["rviz_default_plugins/MarkerArray"]["Topic"]["Value"] == "/markers"
    image_topics = {
        d["Topic"]["Value"] for d in manager["Displays"] if d["Class"] == "rviz_default_plugins/Image"
    }
    assert image_topics == {"/camera/image_raw", "/debug_image"}


@pytest.mark.skipif(
    importlib.util.find_spec("launch") is None or importlib.util.find_spec("launch_ros") is None,
    reason="ROS 2 launch is not installed here (it is not on PyPI); the ast checks above still ran",
)
def test_launch_description_builds_with_ros_launch():
    from launch.actions import DeclareLaunchArgument, OpaqueFunction

    from launch import LaunchContext, LaunchDescription

    spec = importlib.util.spec_from_file_location("perception_launch", LAUNCH_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    description = module.generate_launch_description()
    assert isinstance(description, LaunchDescription)
    names = {entity.name for entity in description.entities if isinstance(entity, DeclareLaunchArgument)}
    assert names >= REQUIRED_ARGUMENTS
    context = LaunchContext()
    context.launch_configurations.update(
        dict.fromkeys(names, "") | {"weights": "/w.hdf5", "random_weights": "false", "image": "/cam/image"}
    )
    (opaque,) = [entity for entity in description.entities if isinstance(entity, OpaqueFunction)]
    (node,) = opaque.execute(context)
    assert node.node_executable == "perception_node"
