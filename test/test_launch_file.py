"""launch/perception.launch.py, config/perception.yaml and rviz/deephar.rviz agree with the nodes.

Where `launch` and `launch_ros` are importable (a ROS 2 install) the launch description is built
and run; everywhere the file is also checked with `ast`, so CI without ROS launch still catches a
launch argument, a parameter or an executable name that drifted, a process that could start before
the arguments are checked or outlive the perception node, and its pure functions (argument checks,
typed parameter overrides, namespaced names, the RViz view) are taken out of it with `ast` and run.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

import pytest
import rclpy
import yaml
from rclpy.node import Node

from deephar_ros.choices import PRECISIONS
from deephar_ros.ros.demo_source import DEFAULT_FRAME_ID, DEFAULT_VIDEO
from deephar_ros.ros.demo_source import NODE_NAME as DEMO_NODE_NAME
from deephar_ros.ros.parameters import PerceptionParameters, declare_parameters, validate
from deephar_ros.ros.perception_node import NODE_NAME

REPO = Path(__file__).resolve().parents[1]
LAUNCH_FILE = REPO / "launch" / "perception.launch.py"
PARAMS_FILE = REPO / "config" / "perception.yaml"
RVIZ_FILE = REPO / "rviz" / "deephar.rviz"
REQUIRED_ARGUMENTS = {
    "namespace",
    "detector",
    "detections_in",
    "image",
    "camera_info",
    "depth",
    "weights",
    "model",
    "device",
    "backend",
    "precision",
    "use_demo_source",
    "video",
    "rviz",
    "params_file",
    "min_joint_confidence",
    "qos_reliability",
    "publish_debug_image",
    "output_frame",
    "publish_tf",
}
# The functions of the launch file that use no launch object, and may be run without launch.
PURE_FUNCTIONS = (
    "parse_boolean",
    "parameter_overrides",
    "launch_switches",
    "checked_namespace",
    "under_namespace",
    "rviz_config",
    "checked_arguments",
)
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


@pytest.fixture(scope="module")
def helpers(launch_tree) -> dict[str, object]:
    """The launch file's constants, plain imports and PURE_FUNCTIONS, run without launch installed."""
    body = [
        node
        for node in launch_tree.body
        if isinstance(node, ast.Assign | ast.Import)
        or (isinstance(node, ast.FunctionDef) and node.name in PURE_FUNCTIONS)
    ]
    namespace: dict[str, object] = {}
    exec(compile(ast.Module(body=body, type_ignores=[]), str(LAUNCH_FILE), "exec"), namespace)
    assert set(PURE_FUNCTIONS) <= set(namespace)
    return namespace


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
    assert module_constant(launch_tree, "DEMO_FRAME_ID") == DEFAULT_FRAME_ID


def test_arguments_passed_as_parameters_are_parameters_of_the_node_of_their_type(launch_tree):
    types = {
        "PARAMETER_ARGUMENTS": str,
        "FLOAT_PARAMETER_ARGUMENTS": float,
        "BOOLEAN_PARAMETER_ARGUMENTS": bool,
    }
    declared = declared_arguments(launch_tree)
    passed = set()
    for constant, kind in types.items():
        for name in module_constant(launch_tree, constant):
            assert type(getattr(PerceptionParameters, name)) is kind, name
            assert ast.literal_eval(keyword(declared[name], "default_value")) == "", name  # params_file's
            passed.add(name)
    assert {
        "weights",
        "model",
        "backend",
        "device",
        "precision",
        "detector",
        "min_joint_confidence",
        "qos_reliability",
    } <= passed
    assert {"publish_debug_image", "publish_tf", "publish_detections", "publish_humans"} <= passed


def test_parameter_overrides_are_typed_and_only_for_given_arguments(helpers):
    overrides = helpers["parameter_overrides"](
        {
            "weights": "/w.hdf5",
            "model": "",
            "min_joint_confidence": "0.35",
            "qos_reliability": "reliable",
            "publish_debug_image": "",
            "publish_tf": "True",
            "use_depth": "false",
        }
    )
    assert overrides == {
        "weights": "/w.hdf5",
        "min_joint_confidence": 0.35,
        "qos_reliability": "reliable",
        "publish_tf": True,
        "use_depth": False,
    }
    assert PerceptionParameters(random_weights=True, **overrides)  # the node's own field types


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"publish_tf": "ture"}, "publish_tf:='ture' is not one of"),
        ({"min_joint_confidence": "high"}, "min_joint_confidence:='high' is not a number"),
    ],
)
def test_a_misspelt_argument_is_a_clear_error_not_a_default(helpers, arguments, message):
    with pytest.raises(ValueError, match=message):
        helpers["parameter_overrides"](arguments)


def test_precision_takes_the_node_parameter_words_only(helpers):
    """The launch file cannot import deephar_ros: its copy of the words must stay the node's."""
    assert helpers["CHOICE_ARGUMENTS"]["precision"] == PRECISIONS
    for word in PRECISIONS:
        assert helpers["parameter_overrides"]({"precision": word}) == {"precision": word}
        validate(PerceptionParameters(random_weights=True, precision=word))
    assert helpers["parameter_overrides"]({"precision": ""}) == {}  # params_file's
    for word in ("bf16", "fp16", "FP32"):
        with pytest.raises(ValueError, match=f"precision:='{word}' is not one of"):
            helpers["parameter_overrides"]({"precision": word})


def literal(tree: ast.Module, value: ast.expr) -> object:
    """A literal, or the value of the module constant a name refers to."""
    return module_constant(tree, value.id) if isinstance(value, ast.Name) else ast.literal_eval(value)


def test_launch_file_starts_the_installed_executables_under_their_node_names(launch_tree):
    setup = ast.parse((REPO / "setup.py").read_text())
    scripts = {
        entry.split("=")[0].strip(): entry.split("=")[1].strip()
        for call in calls(setup, "setup")
        for entry in ast.literal_eval(keyword(call, "entry_points"))["console_scripts"]
    }
    nodes = {
        ast.literal_eval(keyword(call, "executable")): literal(launch_tree, keyword(call, "name"))
        for call in calls(launch_tree, "Node")
    }
    assert nodes["perception_node"] == NODE_NAME
    assert nodes["demo_source"] == DEMO_NODE_NAME
    assert scripts["perception_node"] == "deephar_ros.ros.executables:perception_node"
    assert scripts["demo_source"] == "deephar_ros.ros.executables:demo_source"
    assert "rviz2" in nodes


def test_params_file_holds_every_parameter_at_its_default():
    loaded = yaml.safe_load(PARAMS_FILE.read_text())
    assert set(loaded) == {f"/**/{NODE_NAME}"}  # the node in any namespace (launch's namespace:=)
    values = loaded[f"/**/{NODE_NAME}"]["ros__parameters"]
    # YAML writes a string array as a list; the parameters hold it as a tuple (immutable).
    defaults = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(PerceptionParameters()).items()}
    assert values == defaults
    for name, value in values.items():  # a 1 where 1.0 is meant fails rclpy's type check
        assert type(value) is type(defaults[name]), name


@pytest.mark.parametrize("namespace", ["", "/deephar", "/robot1/people"])
def test_params_file_loads_into_the_node_parameters_in_any_namespace(namespace):
    context = rclpy.context.Context()
    rclpy.init(context=context, domain_id=DOMAIN_ID)
    try:
        node = Node(
            NODE_NAME,
            namespace=namespace,
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


def displays(text: str) -> dict[str, dict]:
    return {display["Name"]: display for display in yaml.safe_load(text)["Visualization Manager"]["Displays"]}


def test_rviz_view_shows_markers_and_images_in_the_demo_camera_frame(helpers):
    view = yaml.safe_load(RVIZ_FILE.read_text())
    manager = view["Visualization Manager"]
    assert manager["Global Options"]["Fixed Frame"] == DEFAULT_FRAME_ID
    shown = displays(RVIZ_FILE.read_text())
    # the launch file's defaults: namespace /deephar, camera/image_raw in it
    namespace = helpers["DEFAULT_NAMESPACE"]
    assert shown[helpers["RVIZ_SKELETONS"]]["Topic"]["Value"] == f"{namespace}/markers"
    assert shown[helpers["RVIZ_CAMERA_IMAGE"]]["Topic"]["Value"] == f"{namespace}/camera/image_raw"
    assert shown[helpers["RVIZ_DEBUG_IMAGE"]]["Topic"]["Value"] == f"{namespace}/debug_image"
    for name in (helpers["RVIZ_DEBUG_IMAGE"], helpers["RVIZ_TF"]):  # off unless the node publishes them
        assert shown[name]["Enabled"] is False and shown[name]["Value"] is False


@pytest.mark.parametrize("debug_image", [False, True])
def test_rviz_view_follows_the_namespace_the_image_the_frame_and_the_switches(helpers, debug_image):
    text = helpers["rviz_config"](
        RVIZ_FILE.read_text(),
        namespace="/robot1/people",
        image_topic="/cam/color",
        fixed_frame="cam_link",
        debug_image=debug_image,
        tf=True,
    )
    view = yaml.safe_load(text)
    assert view["Visualization Manager"]["Global Options"]["Fixed Frame"] == "cam_link"
    shown = displays(text)
    assert shown[helpers["RVIZ_CAMERA_IMAGE"]]["Topic"]["Value"] == "/cam/color"  # absolute: as given
    assert shown[helpers["RVIZ_SKELETONS"]]["Topic"]["Value"] == "/robot1/people/markers"
    assert shown[helpers["RVIZ_DEBUG_IMAGE"]]["Topic"]["Value"] == "/robot1/people/debug_image"
    assert shown[helpers["RVIZ_DEBUG_IMAGE"]]["Enabled"] is debug_image
    assert shown[helpers["RVIZ_DEBUG_IMAGE"]]["Value"] is debug_image
    assert shown[helpers["RVIZ_TF"]]["Enabled"] is True
    template = displays(RVIZ_FILE.read_text())
    assert shown["Skeletons"]["Namespaces"] == template["Skeletons"]["Namespaces"]  # the rest unchanged
    assert view["Window Geometry"] == yaml.safe_load(RVIZ_FILE.read_text())["Window Geometry"]
    relative = displays(
        helpers["rviz_config"](RVIZ_FILE.read_text(), "/", "camera/image_raw", "f", False, False)
    )
    assert relative[helpers["RVIZ_CAMERA_IMAGE"]]["Topic"]["Value"] == "/camera/image_raw"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"use_demo_source": "maybe"}, "use_demo_source:='maybe' is not one of"),
        ({"rviz": "maybe"}, "rviz:='maybe' is not one of"),
        ({"publish_tf": "maybe"}, "publish_tf:='maybe' is not one of"),
        ({"min_joint_confidence": "abc"}, "min_joint_confidence:='abc' is not a number"),
        ({"namespace": "/robot 1"}, "namespace:='/robot 1' is not a ROS namespace"),
        ({"namespace": "/1robot"}, "is not a ROS namespace"),
        ({"rviz": "true"}, "rviz:=true but rviz2 is not installed"),
        ({"precision": "bf16"}, "precision:='bf16' is not one of"),
    ],
)
def test_every_argument_is_checked_before_anything_starts(helpers, arguments, message):
    with pytest.raises(ValueError, match=message):
        helpers["checked_arguments"]({"namespace": "/deephar"} | arguments, rviz2_found=False)


def test_switches_take_the_same_words_as_the_parameters(helpers):
    overrides, switches = helpers["checked_arguments"](
        {"namespace": "/robot1/people", "use_demo_source": "yes", "rviz": "1", "publish_tf": "no"}, True
    )
    assert switches == {"use_demo_source": True, "rviz": True} and overrides == {"publish_tf": False}
    assert helpers["checked_namespace"]("/") == "/" and helpers["checked_namespace"]("robot1/") == "/robot1"
    assert (
        helpers["under_namespace"]("/robot1/people", "camera/image_raw") == "/robot1/people/camera/image_raw"
    )
    assert helpers["under_namespace"]("/", "markers") == "/markers"


def test_nothing_starts_before_the_check_and_the_launch_ends_with_its_node(launch_tree):
    functions = {node.name: node for node in launch_tree.body if isinstance(node, ast.FunctionDef)}
    # the description holds the arguments and one function that builds every process after the check
    generate = functions["generate_launch_description"]
    assert not calls(generate, "Node") and len(calls(generate, "OpaqueFunction")) == 1
    setup = functions["_launch_setup"]
    check_line = calls(setup, "checked_arguments")[0].lineno
    assert all(call.lineno > check_line for call in calls(setup, "Node"))
    # the perception node and the demo camera each shut the launch down when they exit
    handler = functions["_shut_down_when_it_exits"]
    (on_exit,) = calls(handler, "OnProcessExit")
    assert isinstance(keyword(on_exit, "target_action"), ast.Name)
    assert calls(handler, "Shutdown")
    watched = [ast.unparse(call.args[0]) for call in calls(setup, "_shut_down_when_it_exits")]
    assert watched == ["perception", "demo_source"]


ROS_LAUNCH_MISSING = pytest.mark.skipif(
    importlib.util.find_spec("launch") is None or importlib.util.find_spec("launch_ros") is None,
    reason="ROS 2 launch is not installed here (it is not on PyPI); the ast checks above still ran",
)


def launch_module():
    spec = importlib.util.spec_from_file_location("perception_launch", LAUNCH_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@ROS_LAUNCH_MISSING
def test_launch_description_builds_with_ros_launch(monkeypatch, tmp_path):
    from launch.actions import DeclareLaunchArgument, OpaqueFunction, RegisterEventHandler

    from launch import LaunchContext, LaunchDescription

    description = launch_module().generate_launch_description()
    assert isinstance(description, LaunchDescription)
    names = {entity.name for entity in description.entities if isinstance(entity, DeclareLaunchArgument)}
    assert names >= REQUIRED_ARGUMENTS
    names.discard("params_file")  # its default needs the package installed: given below
    (setup,) = (entity for entity in description.entities if isinstance(entity, OpaqueFunction))
    context = LaunchContext()
    given = {"namespace": "/robot1/people", "weights": "/w.hdf5", "image": "/cam/image", "publish_tf": "true"}
    declared = {
        entity.name: entity for entity in description.entities if isinstance(entity, DeclareLaunchArgument)
    }
    defaults = {
        name: "".join(part.perform(context) for part in declared[name].default_value) for name in names
    }
    context.launch_configurations.update(
        defaults | given | {"use_demo_source": "yes", "params_file": str(PARAMS_FILE)}
    )
    actions = setup.execute(context)
    nodes = [action for action in actions if not isinstance(action, RegisterEventHandler)]
    assert [node.node_executable for node in nodes] == ["perception_node", "demo_source"]
    assert sum(isinstance(action, RegisterEventHandler) for action in actions) == 2
    # RViz's view comes from the installed share folder (this venv's, or the ROS install's)
    monkeypatch.setenv(
        "AMENT_PREFIX_PATH", os.pathsep.join(filter(None, [sys.prefix, os.environ.get("AMENT_PREFIX_PATH")]))
    )
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", None)
    context.launch_configurations["rviz"] = "true"
    if importlib.util.find_spec("rviz2") is None and not any(
        os.path.isdir(os.path.join(prefix, "share", "rviz2"))
        for prefix in os.environ["AMENT_PREFIX_PATH"].split(os.pathsep)
    ):
        with pytest.raises(RuntimeError, match=r"rviz2 is not installed .*nothing was started"):
            setup.execute(context)
        return
    rviz = setup.execute(context)[-1]
    assert rviz.node_executable == "rviz2"
    (view,) = tmp_path.glob("*.rviz")
    shown = displays(view.read_text())
    assert shown["Camera image"]["Topic"]["Value"] == "/cam/image"
    assert shown["Skeletons"]["Topic"]["Value"] == "/robot1/people/markers"
    assert shown["TF"]["Enabled"] is True and shown["Debug image"]["Enabled"] is False


@ROS_LAUNCH_MISSING
@pytest.mark.parametrize(
    "bad",
    [{"publish_tf": "maybe"}, {"min_joint_confidence": "abc"}, {"rviz": "maybe"}, {"precision": "fp16"}],
)
def test_a_bad_argument_ends_the_launch_before_any_process_starts(bad):
    from launch.actions import IncludeLaunchDescription, RegisterEventHandler
    from launch.event_handlers import OnProcessStart
    from launch.launch_description_sources import PythonLaunchDescriptionSource

    from launch import LaunchDescription, LaunchService

    started = []
    service = LaunchService()
    service.include_launch_description(
        LaunchDescription(
            [
                RegisterEventHandler(OnProcessStart(on_start=lambda event, context: started.append(event))),
                IncludeLaunchDescription(
                    PythonLaunchDescriptionSource(str(LAUNCH_FILE)),
                    launch_arguments=({"use_demo_source": "true", "random_weights": "true"} | bad).items(),
                ),
            ]
        )
    )
    assert service.run() != 0
    assert started == []
    assert child_processes() == []  # nothing was spawned to outlive the launch either


def child_processes() -> list[str]:
    """The command lines of this process's live children (from /proc: psutil is no dependency)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == os.getpid() and fields[0] != "Z":
                children.append((stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except (OSError, IndexError, ValueError):  # a process that ended meanwhile
            continue
    return children


@ROS_LAUNCH_MISSING
def test_the_launch_ends_whole_when_the_perception_node_fails_at_start_up(monkeypatch):
    """No weights: the node exits 1 at start-up; the demo camera is stopped with it and launch says 1."""
    from launch.actions import IncludeLaunchDescription, RegisterEventHandler, Shutdown, TimerAction
    from launch.event_handlers import OnProcessExit, OnProcessStart
    from launch.launch_description_sources import PythonLaunchDescriptionSource

    from launch import LaunchDescription, LaunchService

    monkeypatch.setenv(  # the package as this venv installs it (scripts/setup.sh), or the ROS install's
        "AMENT_PREFIX_PATH", os.pathsep.join(filter(None, [sys.prefix, os.environ.get("AMENT_PREFIX_PATH")]))
    )
    started, stopped = [], []
    namespace = f"/launch_test_{os.getpid()}"
    service = LaunchService()
    service.include_launch_description(
        LaunchDescription(
            [
                # a guard, not a measurement: a launch that outlives its node would otherwise run on
                TimerAction(period=120.0, actions=[Shutdown(reason="the launch outlived its node")]),
                RegisterEventHandler(OnProcessStart(on_start=lambda event, context: started.append(event))),
                RegisterEventHandler(OnProcessExit(on_exit=lambda event, context: stopped.append(event))),
                IncludeLaunchDescription(
                    PythonLaunchDescriptionSource(str(LAUNCH_FILE)),
                    launch_arguments={"use_demo_source": "true", "namespace": namespace}.items(),
                ),
            ]
        )
    )
    assert service.run() == 1  # the node's failure is the launch's
    assert sorted(event.action.node_executable for event in started) == ["demo_source", "perception_node"]
    # the demo camera was stopped with it (the node's own exit event is the one that ended the launch)
    assert [event.action.node_executable for event in stopped] == ["demo_source"]
    assert child_processes() == []
