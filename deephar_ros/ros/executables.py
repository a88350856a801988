"""The entry points of the node executables: quiet on SIGINT/SIGTERM from their first instruction.

Importing a node module loads torch, OpenCV and rclpy: seconds during which Python's default
handlers would turn a Ctrl-C of `ros2 launch` into a KeyboardInterrupt traceback (SIGINT) or an
exit of -15 (SIGTERM). Here a stop signal before the node's own handling starts ends the process at
once with exit 0, as node_main.run_node does later (nothing is open yet that needs closing).
`-h`/`--help` (outside `--ros-args ... --`) prints the usage and exits 0 before anything loads.
"""

from __future__ import annotations

import importlib
import signal
import sys
from collections.abc import Sequence
from types import FrameType

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
HELP_FLAGS = ("-h", "--help")
ROS_ARGS_START, ROS_ARGS_END = "--ros-args", "--"

_PARAMETERS_HOW = """\
Parameters are ROS parameters: --ros-args -p NAME:=VALUE, or --ros-args --params-file FILE.
Topics are remapped with --ros-args -r FROM:=TO."""

USAGE = {
    "perception_node": f"""\
usage: perception_node [-h] [--ros-args ...]

The deephar_perception node: camera images in (image, image/compressed, camera_info, depth,
detections_in); 3D skeletons, actions, markers and diagnostics out (skeletons, actions, markers,
debug_image, /tf, /diagnostics).

{_PARAMETERS_HOW}
Every parameter, its default and its range: share/deephar_ros/config/perception.yaml, the README's
Parameters table, or `ros2 param describe /deephar_perception NAME` while the node runs.
The weights: --ros-args -p weights:=PATH.hdf5 (`deephar-ros download` fetches the released ones).
""",
    "demo_source": f"""\
usage: demo_source [-h] [--ros-args ...]

The deephar_demo_source node: a video file published as a camera (image: sensor_msgs/Image rgb8,
camera_info: sensor_msgs/CameraInfo) at the file's frame rate, stamped with the current time.

{_PARAMETERS_HOW}
Parameters: video (file; empty: the sample video scripts/setup.sh fetches), loop (start again at
the end), hfov (horizontal field of view, degrees, of the intrinsics), frame_id.
""",
}


def _exit_quietly(_signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(0)


def user_arguments(argv: Sequence[str]) -> list[str]:
    """The arguments outside every `--ros-args ... [--]` section (those are rcl's, e.g. `-p x:=1`)."""
    user, in_ros_args = [], False
    for argument in argv:
        if argument == ROS_ARGS_START:
            in_ros_args = True
        elif in_ros_args and argument == ROS_ARGS_END:
            in_ros_args = False
        elif not in_ros_args:
            user.append(argument)
    return user


def _run(executable: str, module: str) -> int:
    """Answer --help, else import the node module with quiet stop signals and hand over to its main."""
    if any(argument in HELP_FLAGS for argument in user_arguments(sys.argv[1:])):
        print(USAGE[executable], end="")
        return 0
    for signum in STOP_SIGNALS:
        signal.signal(signum, _exit_quietly)
    return importlib.import_module(module).main()


def perception_node() -> int:
    """`perception_node` (console script and lib/deephar_ros executable)."""
    return _run("perception_node", "deephar_ros.ros.perception_node")


def demo_source() -> int:
    """`demo_source` (console script and lib/deephar_ros executable)."""
    return _run("demo_source", "deephar_ros.ros.demo_source")
