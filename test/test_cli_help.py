"""`--help` of every executable answers before torch, OpenCV, ONNX Runtime (or rclpy) load, and exits 0.

Each check runs in a fresh interpreter: this test process has long imported torch.
"""

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from deephar_ros.offline.cli import build_parser
from deephar_ros.offline.run_options import add_arguments
from deephar_ros.perception.pipeline import PipelineConfig
from deephar_ros.ros.executables import user_arguments

BIN = Path(sys.executable).parent
HEAVY = ("torch", "cv2", "onnxruntime", "rclpy")


def _subcommands() -> list[str]:
    """Every command build_parser declares: one added later is checked without editing this file."""
    (action,) = (a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return list(action.choices)


COMMANDS = [[], *([name] for name in _subcommands())]

# Calls an entry point with argv, then prints which heavy modules the interpreter loaded.
PROBE = """
import sys
from deephar_ros.{module} import {function} as entry
sys.argv = {argv!r}
try:
    status = entry(*{call_args!r})
except SystemExit as exit:
    status = exit.code
print("STATUS", status)
print("LOADED", ",".join(name for name in {heavy!r} if name in sys.modules))
"""


def _probe(module: str, function: str, argv: list[str], call_args: tuple = ()) -> tuple[int, str, str, str]:
    """Exit status, heavy modules loaded, stdout and stderr of entry(*call_args) with sys.argv = argv."""
    code = PROBE.format(module=module, function=function, argv=argv, call_args=call_args, heavy=HEAVY)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    status = int(lines[-2].removeprefix("STATUS "))
    return status, lines[-1].removeprefix("LOADED").strip(), "\n".join(lines[:-2]), result.stderr


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "deephar-ros")
def test_cli_help_loads_nothing_heavy(command):
    status, loaded, out, _ = _probe("offline.cli", "main", ["deephar-ros"], ([*command, "--help"],))
    assert status == 0
    assert out.startswith(f"usage: deephar-ros {' '.join(command)}".rstrip())
    assert loaded == ""


def test_a_bad_option_is_refused_before_anything_loads():
    status, loaded, _, err = _probe(
        "offline.cli", "main", ["deephar-ros"], (["run", "x.mp4", "--backend", "abacus"],)
    )
    assert status == 2 and "invalid choice: 'abacus'" in err
    assert loaded == ""


def test_console_script_help_exits_0():
    result = subprocess.run([BIN / "deephar-ros", "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stderr == ""
    for command in COMMANDS[1:]:
        assert command[0] in result.stdout


def test_run_options_default_to_the_pipeline_config():
    """run_options writes the pipeline's defaults out (the pipeline module loads OpenCV): they must agree."""
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["video.mp4"])
    config = PipelineConfig()
    assert args.detector == config.detector
    assert args.crop_source == config.crop_source
    assert args.detect_every == config.detect_every_n_frames
    assert args.action_scoring == config.action_scoring
    assert args.action_window == config.action_window
    assert args.min_score == config.min_score and args.clip_stride == config.clip_stride


@pytest.mark.parametrize(
    "argv, user",
    [
        (["--help"], ["--help"]),
        (["--ros-args", "-p", "video:=a.avi"], []),
        (["--ros-args", "-r", "image:=/cam", "--", "-h"], ["-h"]),
        (["-h", "--ros-args", "--params-file", "p.yaml", "--", "x", "--ros-args", "-p", "a:=1"], ["-h", "x"]),
    ],
)
def test_user_arguments_leave_out_the_ros_arguments(argv, user):
    assert user_arguments(argv) == user


@pytest.mark.parametrize("executable", ["perception_node", "demo_source"])
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_node_help_prints_usage_and_starts_nothing(executable, flag):
    status, loaded, out, _ = _probe("ros.executables", executable, [executable, flag])
    assert status == 0
    assert out.startswith(f"usage: {executable}") and "--ros-args" in out
    assert loaded == ""


@pytest.mark.parametrize("executable", ["perception_node", "demo_source"])
def test_node_executable_help_exits_0(executable):
    result = subprocess.run([BIN / executable, "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.startswith(f"usage: {executable}")


def test_help_inside_ros_arguments_is_not_ours_and_the_node_starts(tmp_path):
    """`--ros-args` still reach rclpy: the node starts and reads its parameter (here a missing video)."""
    missing = tmp_path / "missing.avi"
    result = subprocess.run(
        [BIN / "demo_source", "--ros-args", "-p", f"video:={missing}"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "start-up failed" in result.stderr and str(missing) in result.stderr
