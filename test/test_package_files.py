"""The package's own files agree with each other and with what ROS 2 tools and pip expect of them."""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from catkin_pkg.package import parse_package

import deephar_ros

REPO_ROOT = Path(__file__).resolve().parents[1]
MSG_DIR = REPO_ROOT / "msg"
CONSOLE_SCRIPTS = {
    "deephar-ros": "deephar_ros.offline.cli:main",
    "perception_node": "deephar_ros.ros.executables:perception_node",
    "demo_source": "deephar_ros.ros.executables:demo_source",
}
ROS_NODES = ("perception_node", "demo_source")
SHARE_FOLDERS = ("launch", "config", "rviz", "model")
PREFIX = Path(sys.prefix)  # the venv: scripts/setup.sh gives it colcon's install-space layout
SETUP_HINT = "run scripts/setup.sh (it installs the ament layout with scripts/install_ament_layout.py)"


@pytest.fixture(scope="module")
def package():
    """package.xml as parsed and validated by catkin_pkg, the parser colcon and rosdep use."""
    parsed = parse_package(str(REPO_ROOT / "package.xml"))
    parsed.validate()
    return parsed


def msg_files() -> list[Path]:
    return sorted(MSG_DIR.glob("*.msg"))


def test_package_xml_is_format_3_with_this_name_and_version(package):
    assert package.package_format == 3
    assert package.name == "deephar_ros"
    assert package.version == deephar_ros.__version__
    assert package.get_build_type() == "ament_cmake"
    assert "rosidl_interface_packages" in [group.name for group in package.member_of_groups]


def test_package_xml_declares_every_dependency(package):
    build = {d.name for d in package.buildtool_depends + package.build_depends}
    run = {d.name for d in package.exec_depends}
    assert {"ament_cmake", "ament_cmake_python", "rosidl_default_generators"} <= build
    message_packages = {"builtin_interfaces", "std_msgs", "geometry_msgs", "sensor_msgs"}
    assert message_packages <= build
    assert message_packages <= run
    assert {
        "rosidl_default_runtime",
        "rclpy",
        "visualization_msgs",
        "diagnostic_msgs",
        "std_srvs",
        "message_filters",
        "cv_bridge",
        "launch",
        "launch_ros",
        "rviz2",
        "python3-numpy",
        "python3-opencv",
        "python3-h5py",
        "python3-torch",
    } <= run


def test_every_message_has_a_header_and_is_built():
    """No message without a header (the stamp of the source image), and CMake generates every one."""
    assert len(msg_files()) == 5
    cmake = (REPO_ROOT / "CMakeLists.txt").read_text()
    for msg_file in msg_files():
        fields = [line.split("#")[0].split() for line in msg_file.read_text().splitlines()]
        fields = [field for field in fields if field]
        assert fields[0] == ["std_msgs/Header", "header"], f"{msg_file.name} does not start with a header"
        assert f'"msg/{msg_file.name}"' in cmake, f"CMakeLists.txt does not generate {msg_file.name}"


def test_generated_messages_match_the_msg_files():
    """The built deephar_ros.msg is that of today's msg/ files (a stale build fails here)."""
    import deephar_ros.msg as generated

    for msg_file in msg_files():
        message_type = getattr(generated, msg_file.stem)
        declared = set()
        for line in msg_file.read_text().splitlines():
            words = line.split("#")[0].split()
            if len(words) == 2:  # a field; constants have "=" and more words
                declared.add(words[1])
        assert declared == set(message_type.get_fields_and_field_types()), msg_file.name


@pytest.mark.parametrize("where", ["repository root", "elsewhere"])
def test_sources_and_generated_messages_import_from(where: str, tmp_path: Path):
    """From the repository root and from any other folder, the venv finds our sources (not a copy)
    and the generated messages, which CMake installed into another folder."""
    cwd = REPO_ROOT if where == "repository root" else tmp_path
    probe = "import deephar_ros, deephar_ros.msg, deephar_ros.perception.results; print(deephar_ros.__file__)"
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip()) == REPO_ROOT / "deephar_ros" / "__init__.py"


def test_requirements_are_pinned_and_torch_is_the_cpu_release():
    lines = [line.strip() for line in (REPO_ROOT / "requirements.txt").read_text().splitlines()]
    requirements = [line for line in lines if line and not line.startswith("#")]
    assert requirements
    for requirement in requirements:
        assert re.fullmatch(r"[A-Za-z0-9_.\-]+(\[[a-z,]+\])?==[0-9][0-9A-Za-z.+]*", requirement), requirement
    assert "torch==2.13.0" in requirements
    assert "ros-rclpy[fastrtps]==9.1.2" in requirements
    assert "ros-std-srvs==5.5.1" in requirements  # the ~/enable service (std_srvs/SetBool)


def test_console_scripts_are_installed_as_declared():
    distribution = importlib.metadata.distribution("deephar_ros")
    scripts = {ep.name: ep.value for ep in distribution.entry_points if ep.group == "console_scripts"}
    assert scripts == CONSOLE_SCRIPTS


@pytest.mark.parametrize("name", sorted(CONSOLE_SCRIPTS))
def test_console_script_resolves_to_a_function(name: str):
    module_name, function_name = CONSOLE_SCRIPTS[name].split(":")
    module = importlib.import_module(module_name)
    assert callable(getattr(module, function_name))


@pytest.mark.parametrize("node", ROS_NODES)
def test_ros_node_executables_match_the_console_scripts(node: str):
    """CMake installs nodes/<node> into lib/deephar_ros for `ros2 run`: it calls the same entry point."""
    executable = REPO_ROOT / "nodes" / node
    assert executable.stat().st_mode & 0o111, f"{executable} is not executable"
    module_name, function = CONSOLE_SCRIPTS[node].split(":")
    assert f"from {module_name} import {function} as main" in executable.read_text()
    assert f"nodes/{node}" in (REPO_ROOT / "CMakeLists.txt").read_text()


def test_readme_joints_table_is_the_joint_layouts():
    """Skeleton.msg sends consumers to the README's table for the joint order: it must not drift."""
    from deephar_ros.model.joints import PA16J2D, PA17J3D

    readme = (REPO_ROOT / "README.md").read_text()
    table = readme.split("## Joints", 1)[1].split("\n## ", 1)[0]
    rows = [line.strip("|").split("|") for line in table.splitlines() if re.match(r"\| \d+ \|", line)]
    ntu = [cells[1].strip().strip("`") for cells in rows]
    penn = [cells[2].strip().strip("`") for cells in rows if cells[2].strip() != "-"]
    assert [int(cells[0]) for cells in rows] == list(range(len(rows)))
    assert tuple(ntu) == PA17J3D.joint_names
    assert tuple(penn) == PA16J2D.joint_names


def installer():
    """scripts/install_ament_layout.py as a module."""
    spec = importlib.util.spec_from_file_location(
        "install_ament_layout", REPO_ROOT / "scripts/install_ament_layout.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_venv_is_found_by_ament_index_like_an_install_space(monkeypatch):
    """`ros2 run` and `ros2 launch` find a package through ament_index in AMENT_PREFIX_PATH."""
    from ament_index_python.packages import get_package_prefix, get_package_share_directory

    marker = PREFIX / "share/ament_index/resource_index/packages/deephar_ros"
    assert marker.is_file(), f"no ament index marker {marker}: {SETUP_HINT}"
    monkeypatch.setenv("AMENT_PREFIX_PATH", str(PREFIX))
    assert Path(get_package_prefix("deephar_ros")) == PREFIX
    share = Path(get_package_share_directory("deephar_ros"))
    assert (share / "package.xml").read_text() == (REPO_ROOT / "package.xml").read_text()


@pytest.mark.parametrize("folder", SHARE_FOLDERS)
def test_venv_share_holds_every_file_of_the_folder(folder: str):
    installed = PREFIX / "share" / "deephar_ros" / folder
    assert installed.is_dir(), f"{installed} is missing: {SETUP_HINT}"
    expected = sorted(
        p.relative_to(REPO_ROOT / folder) for p in (REPO_ROOT / folder).rglob("*") if p.is_file()
    )
    assert expected
    for relative in expected:
        assert (installed / relative).read_bytes() == (REPO_ROOT / folder / relative).read_bytes(), relative


def test_label_files_are_installed_in_share_for_consumers():
    """share/deephar_ros/labels/<label set>_labels.txt, one label a line in score order (label id =
    line number): a consumer without our Python maps ActionRecognition.label_id with it. CMake
    installs them on ROS, setup.py's data_files in a wheel, the installer in the venv."""
    from deephar_ros.model.labels import LABEL_FILES, load_labels

    labels = PREFIX / "share" / "deephar_ros" / "labels"
    assert labels.is_dir(), f"{labels} is missing: {SETUP_HINT}"
    for label_set, name in LABEL_FILES.items():
        lines = (labels / name).read_text("utf-8").splitlines()
        assert [line.strip() for line in lines if line.strip()] == load_labels(label_set), name
    module = installer()
    assert module.SHARE_SELECTIONS["labels"] == ("deephar_ros/model/data", "*_labels.txt")
    label_files = (REPO_ROOT / "deephar_ros" / "model" / "data").glob("*_labels.txt")
    assert sorted(p.name for p in label_files) == sorted(LABEL_FILES.values())
    text = ast.unparse(ast.parse((REPO_ROOT / "setup.py").read_text()))
    assert "share_files('labels', '*_labels.txt', source=f'{PACKAGE_NAME}/model/data')" in text
    cmake = (REPO_ROOT / "CMakeLists.txt").read_text()
    assert "model/data/*_labels.txt" in cmake and "DESTINATION share/${PROJECT_NAME}/labels" in cmake


def test_ros2_launch_finds_the_launch_file_as_it_searches():
    """ros2launch's get_share_file_path_from_package walks share/<package> with os.walk, which does
    not enter linked folders: the launch file must be found that way."""
    share = PREFIX / "share" / "deephar_ros"
    found = [Path(root) / name for root, _, names in os.walk(share) for name in names]
    assert share / "launch" / "perception.launch.py" in found, SETUP_HINT
    assert share / "config" / "perception.yaml" in found


@pytest.mark.parametrize("node", ROS_NODES)
def test_venv_lib_holds_the_node_executables_on_the_venv_python(node: str):
    """lib/deephar_ros/<node> is what `ros2 run deephar_ros <node>` executes: nodes/<node> with this
    venv's Python in the shebang, so a shell whose python3 is the system's still runs the venv."""
    executable = PREFIX / "lib" / "deephar_ros" / node
    assert executable.is_file(), f"{executable} is missing: {SETUP_HINT}"
    assert os.access(executable, os.X_OK)
    shebang, *body = executable.read_text().splitlines()
    assert Path(shebang.removeprefix("#!")).resolve() == Path(sys.executable).resolve()
    assert body == (REPO_ROOT / "nodes" / node).read_text().splitlines()[1:]
    ast.parse("\n".join(body))


@pytest.mark.slow
def test_installed_demo_source_runs_its_main(tmp_path: Path):
    """The installed executable starts the node's own main: a missing video ends it with exit 1."""
    missing = tmp_path / "none.avi"
    result = subprocess.run(
        [str(PREFIX / "lib" / "deephar_ros" / "demo_source"), "--ros-args", "-p", f"video:={missing}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"video file '{missing}' does not exist" in result.stdout + result.stderr


def test_installer_is_idempotent_and_replaces_what_is_in_the_way(tmp_path: Path):
    module = installer()
    (tmp_path / "share" / "deephar_ros" / "launch").mkdir(parents=True)  # e.g. a wheel's copy
    (tmp_path / "lib" / "deephar_ros").mkdir(parents=True)
    (tmp_path / "lib" / "deephar_ros" / "demo_source").symlink_to("/nonexistent")
    paths = module.install_layout(tmp_path, interpreter="/opt/venv/bin/python")
    assert all(p.exists() for p in paths)
    launch = tmp_path / "share" / "deephar_ros" / "launch"
    assert not launch.is_symlink() and launch.is_dir()
    assert (launch / "perception.launch.py").resolve() == REPO_ROOT / "launch" / "perception.launch.py"
    (launch / "removed.launch.py").symlink_to(REPO_ROOT / "launch" / "gone.launch.py")  # a file since deleted
    demo = tmp_path / "lib" / "deephar_ros" / "demo_source"
    assert not demo.is_symlink() and demo.read_text().startswith("#!/opt/venv/bin/python\n")
    assert module.install_layout(tmp_path, interpreter="/opt/venv/bin/python") == paths
    assert not (launch / "removed.launch.py").is_symlink()
    before = {p: p.lstat().st_mtime_ns for p in paths}
    assert module.install_layout(tmp_path, interpreter="/opt/venv/bin/python") == paths
    assert {p: p.lstat().st_mtime_ns for p in paths} == before


def test_setup_py_data_files_are_the_same_layout_for_a_wheel():
    """`pip install .` (a wheel) writes the layout from data_files: the same as the installer's."""
    setup = ast.parse((REPO_ROOT / "setup.py").read_text())
    text = ast.unparse(setup)
    module = installer()
    assert set(module.SHARE_FOLDERS) == set(SHARE_FOLDERS)
    for folder in SHARE_FOLDERS:
        assert f"share_files('{folder}'" in text, folder
    for node in module.EXECUTABLES:
        assert f"'nodes/{node}'" in text, node
    assert set(module.EXECUTABLES) == set(ROS_NODES)
    assert "share/ament_index/resource_index/packages" in text and "resource/{PACKAGE_NAME}" in text


def test_readme_parameters_table_is_the_declared_parameters():
    """Every parameter in order, with its default and the description `ros2 param describe` shows."""
    from dataclasses import fields

    from deephar_ros.ros.parameters import _DESCRIPTIONS, PerceptionParameters

    readme = (REPO_ROOT / "README.md").read_text()
    table = readme.split("## Parameters", 1)[1].split("\n## ", 1)[0]
    rows = [line.strip("|").split(" | ") for line in table.splitlines() if line.startswith("| `")]
    assert [cells[0].strip().strip("`") for cells in rows] == [f.name for f in fields(PerceptionParameters)]
    for cells, parameter in zip(rows, fields(PerceptionParameters), strict=True):
        default = parameter.default
        if isinstance(default, tuple):  # a string array, as YAML writes it
            shown = "[" + ", ".join(f'"{item}"' for item in default) + "]"
        elif isinstance(default, bool):
            shown = str(default).lower()
        else:
            shown = '""' if default == "" else str(default)
        assert cells[1].strip().strip("`") == shown, parameter.name
        assert cells[2].strip().startswith(_DESCRIPTIONS[parameter.name][0]), parameter.name
