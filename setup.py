"""pip route: installs the deephar_ros Python package, its console scripts and its ament layout.

The ament layout (share/deephar_ros/, lib/deephar_ros/ executables, the ament index marker) is what
`ros2 run` and `ros2 launch` find in a prefix. A wheel (`pip install .`) writes it from data_files; an
editable install writes no data_files, so scripts/setup.sh runs scripts/install_ament_layout.py.
colcon on a ROS 2 install uses CMakeLists.txt instead (it also builds msg/). Version pins live only
in requirements.txt; the requirements below are looked up there by name.
"""

from pathlib import Path

from setuptools import find_packages, setup

PACKAGE_NAME = "deephar_ros"
REPO_ROOT = Path(__file__).resolve().parent


def pinned(*names: str) -> list[str]:
    """The requirement lines of requirements.txt for these distribution names (extras included)."""
    lines = [line.strip() for line in (REPO_ROOT / "requirements.txt").read_text().splitlines()]
    requirements = [line for line in lines if line and not line.startswith("#")]
    by_name = {line.split("==")[0].split("[")[0].lower(): line for line in requirements}
    missing = [name for name in names if name.lower() not in by_name]
    if missing:
        raise ValueError(f"requirements.txt pins no version of {missing}")
    return [by_name[name.lower()] for name in names]


def share_files(folder: str, pattern: str, source: str | None = None) -> tuple[str, list[str]]:
    """One data_files entry installing source/pattern (source: folder itself by default) into
    share/deephar_ros/folder (ament layout)."""
    files = Path(source or folder).glob(pattern)
    return (f"share/{PACKAGE_NAME}/{folder}", sorted(str(p) for p in files))


setup(
    name=PACKAGE_NAME,
    version="0.1.0",
    description="3D human pose estimation and action recognition (Luvizon et al., TPAMI 2020) for ROS 2",
    license="MIT",
    python_requires=">=3.10",
    packages=find_packages(include=[PACKAGE_NAME, f"{PACKAGE_NAME}.*"]),
    package_data={f"{PACKAGE_NAME}.model": ["data/*"]},
    install_requires=pinned("torch", "numpy", "h5py", "opencv-python-headless"),
    extras_require={
        "ros": pinned(
            "ros-rclpy",
            "ros-std-msgs",
            "ros-geometry-msgs",
            "ros-sensor-msgs",
            "ros-visualization-msgs",
            "ros-diagnostic-msgs",
            "ros-std-srvs",
            "ros-builtin-interfaces",
        ),
        "onnx": pinned("onnx", "onnxruntime"),
        "openvino": pinned("onnx", "openvino", "openvino-telemetry"),
        # torch-tensorrt follows torch's minor version; never installed by set-up or CI.
        "tensorrt": ["torch-tensorrt>=2.13,<2.14"],
        "test": pinned("pytest", "ruff"),
    },
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE_NAME}"]),
        (f"share/{PACKAGE_NAME}", ["package.xml"]),
        share_files("launch", "*.launch.py"),
        share_files("config", "*.yaml"),
        share_files("rviz", "*.rviz"),
        share_files("model", "*"),
        share_files("labels", "*_labels.txt", source=f"{PACKAGE_NAME}/model/data"),
        (f"lib/{PACKAGE_NAME}", ["nodes/perception_node", "nodes/demo_source"]),
    ],
    entry_points={
        "console_scripts": [
            "deephar-ros=deephar_ros.offline.cli:main",
            "perception_node=deephar_ros.ros.executables:perception_node",
            "demo_source=deephar_ros.ros.executables:demo_source",
        ],
    },
)
