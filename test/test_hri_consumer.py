"""A consumer typed on hri_msgs receives the node's REP-155 body topics over DDS, as libhri would.

libhri's HRIListener subscribes /humans/bodies/tracked (IdsList), then, per body id it lists,
/humans/bodies/<id>/roi (NormalizedRegionOfInterest2D) and /humans/bodies/<id>/skeleton2d
(Skeleton2D); this test's consumer does the same. DDS matches a publisher and a subscriber by type
name and layout, so this is the check that the node speaks hri_msgs. hri_msgs is not on PyPI: where
it is not installed, a package named hri_msgs with the same definitions (hri_stand_ins.py) is built
with CMake the way scripts/build_msgs.sh builds msg/, and both ends run in a subprocess that sees it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # a CMake build of the message package, and a process on DDS

REPO = Path(__file__).resolve().parents[1]
GUARD_S = 120.0  # only stops a hung run; nothing here measures time
PACKAGE_XML = """<?xml version="1.0"?>
<package format="3">
  <name>hri_msgs</name>
  <version>2.0.0</version>
  <description>Test stand-in: the hri_msgs messages deephar_ros publishes, same definitions</description>
  <maintainer email="test@example.com">test</maintainer>
  <license>Apache-2.0</license>
  <buildtool_depend>ament_cmake</buildtool_depend>
  <buildtool_depend>rosidl_default_generators</buildtool_depend>
  <depend>std_msgs</depend>
  <exec_depend>rosidl_default_runtime</exec_depend>
  <member_of_group>rosidl_interface_packages</member_of_group>
  <export><build_type>ament_cmake</build_type></export>
</package>
"""
CMAKE_LISTS = """cmake_minimum_required(VERSION 3.8)
project(hri_msgs)
find_package(ament_cmake REQUIRED)
find_package(rosidl_default_generators REQUIRED)
find_package(std_msgs REQUIRED)
rosidl_generate_interfaces(${{PROJECT_NAME}} {messages} DEPENDENCIES std_msgs)
ament_package()
"""


def _prepend(env: dict[str, str], name: str, path: Path) -> None:
    env[name] = os.pathsep.join(filter(None, [str(path), env.get(name)]))


@pytest.fixture(scope="module")
def hri_msgs_env(tmp_path_factory) -> dict[str, str]:
    """An environment in which `import hri_msgs.msg` works."""
    env = dict(os.environ)
    if importlib.util.find_spec("hri_msgs") is not None:
        return env
    from hri_stand_ins import HRI_MSGS_DEFINITIONS

    root = tmp_path_factory.mktemp("hri_msgs")
    source, build, prefix = root / "src", root / "build", root / "install"
    (source / "msg").mkdir(parents=True)
    for name, definition in HRI_MSGS_DEFINITIONS.items():
        (source / "msg" / f"{name}.msg").write_text(definition)
    (source / "package.xml").write_text(PACKAGE_XML)
    messages = " ".join(f'"msg/{name}.msg"' for name in HRI_MSGS_DEFINITIONS)
    (source / "CMakeLists.txt").write_text(CMAKE_LISTS.format(messages=messages))
    build_env = dict(env)
    _prepend(build_env, "AMENT_PREFIX_PATH", Path(sys.prefix))
    _prepend(build_env, "PATH", Path(sys.prefix) / "bin")
    for command in (
        ["cmake", "-S", str(source), "-B", str(build), f"-DCMAKE_INSTALL_PREFIX={prefix}",
         "-DBUILD_TESTING=OFF", f"-DPython3_EXECUTABLE={sys.executable}"],
        ["cmake", "--build", str(build), "--parallel", str(os.cpu_count() or 1)],
        ["cmake", "--install", str(build)],
    ):  # fmt: skip
        done = subprocess.run(command, env=build_env, capture_output=True, text=True)
        assert done.returncode == 0, f"{command[:2]} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    version = sysconfig.get_python_version()
    _prepend(env, "PYTHONPATH", prefix / "lib" / f"python{version}" / "site-packages")
    _prepend(env, "LD_LIBRARY_PATH", prefix / "lib")
    return env


def test_a_consumer_typed_on_hri_msgs_receives_the_bodies_roi_and_skeleton2d(hri_msgs_env):
    done = subprocess.run(
        [sys.executable, __file__],
        env=hri_msgs_env | {"ROS_DOMAIN_ID": str(1 + (os.getpid() + 57) % 200)},
        capture_output=True,
        text=True,
        timeout=GUARD_S + 60,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    body = report["body"]
    assert body in report["tracked"] and body.startswith("b")
    assert report["types"] == ["hri_msgs/msg/NormalizedRegionOfInterest2D", "hri_msgs/msg/Skeleton2D"]
    # the whole-frame detector's box: the whole image, score 1
    assert report["roi"] == [0.0, 0.0, 1.0, 1.0, 1.0]
    points = report["skeleton"]
    assert len(points) == 18
    unmapped = (0, 14, 15, 16, 17)  # NOSE, the eyes and the ears: our joints have none
    for index, (x, y, c) in enumerate(points):
        assert 0.0 <= x <= 1.0 and 0.0 <= y <= 1.0 and 0.0 <= c <= 1.0
        if index in unmapped:
            assert (x, y, c) == (0.0, 0.0, 0.0)
    assert any(points[i] != [0.0, 0.0, 0.0] for i in range(18) if i not in unmapped)


def consume() -> dict[str, object]:
    """The node on random weights and a consumer subscribing as libhri does, in this process."""
    import numpy as np
    import rclpy
    from hri_msgs.msg import IdsList, NormalizedRegionOfInterest2D, Skeleton2D
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from rclpy.parameter import Parameter
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image
    from std_msgs.msg import Header

    from deephar_ros.ros.image_conversion import rgb_to_image
    from deephar_ros.ros.perception_node import PerceptionNode

    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    rclpy.init()
    overrides = {
        "random_weights": True,
        "backend": "cpu-eager",
        "device": "cpu",
        "detector": "full-frame",
        "qos_reliability": "reliable",
        "publish_humans": True,
        "track_timeout": 600.0,
    }
    node = PerceptionNode(parameter_overrides=[Parameter(k, value=v) for k, v in overrides.items()])
    consumer = Node("hri_consumer")
    got: dict[str, object] = {"tracked": set()}
    qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)  # libhri: SystemDefaultsQoS

    def on_tracked(message: IdsList) -> None:
        for body in message.ids:
            if body not in got["tracked"]:
                got["tracked"].add(body)
                consumer.create_subscription(
                    NormalizedRegionOfInterest2D, f"/humans/bodies/{body}/roi", on_roi(body), qos
                )
                consumer.create_subscription(
                    Skeleton2D, f"/humans/bodies/{body}/skeleton2d", on_skeleton, qos
                )

    def on_roi(body: str):
        def record(message: NormalizedRegionOfInterest2D) -> None:
            got["body"] = body
            got["roi"] = [message.xmin, message.ymin, message.xmax, message.ymax, message.c]

        return record

    def on_skeleton(message: Skeleton2D) -> None:
        got["skeleton"] = [[point.x, point.y, point.c] for point in message.skeleton]

    consumer.create_subscription(IdsList, "/humans/bodies/tracked", on_tracked, qos)
    camera = consumer.create_publisher(
        Image, "image", QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
    )
    frame = np.random.default_rng(3).integers(0, 256, size=(48, 64, 3), dtype=np.uint8)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    executor.add_node(consumer)
    give_up, next_frame, stamp = time.monotonic() + GUARD_S, 0.0, 0
    while not {"roi", "skeleton"} <= set(got):
        assert time.monotonic() < give_up, f"no roi and skeleton2d came: {got}"
        if time.monotonic() >= next_frame:  # a camera at 5 Hz until the consumer has heard both
            stamp += 200_000_000
            header = Header(frame_id="camera")
            header.stamp.sec, header.stamp.nanosec = divmod(stamp, 10**9)
            camera.publish(rgb_to_image(frame, header))
            next_frame = time.monotonic() + 0.2
        executor.spin_once(timeout_sec=0.02)
    types = dict(consumer.get_topic_names_and_types())
    got["types"] = [types[f"/humans/bodies/{got['body']}/{leaf}"][0] for leaf in ("roi", "skeleton2d")]
    got["tracked"] = sorted(got["tracked"])
    executor.shutdown()
    consumer.destroy_node()
    node.destroy_node()
    rclpy.try_shutdown()
    return got


if __name__ == "__main__":
    print(json.dumps(consume()))
