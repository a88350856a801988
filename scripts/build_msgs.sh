#!/usr/bin/env bash
# Builds msg/ with plain CMake (rosidl, no colcon) into a Python virtual environment that holds the
# ROS 2 Kilted wheels, so that `import deephar_ros.msg` works in it.
#
#   scripts/build_msgs.sh [--venv DIR] [--build-dir DIR] [--prefix DIR] [--clean]
#
# --venv: the venv (default: .venv at the repository root); --build-dir: the CMake build folder
# (default: build/msgs); --prefix: install prefix (default: the venv); --clean: start from an empty
# build folder. The Python sources are not installed by CMake here: pip installs them (see setup.sh).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$repo_root/.venv"
build_dir="$repo_root/build/msgs"
prefix=""
clean=false
while [[ $# -gt 0 ]]; do
  case "$1" in
    --venv) venv="$(realpath -m "$2")"; shift 2 ;;
    --build-dir) build_dir="$(realpath -m "$2")"; shift 2 ;;
    --prefix) prefix="$(realpath -m "$2")"; shift 2 ;;
    --clean) clean=true; shift ;;
    *) echo "build_msgs.sh: unknown argument '$1' (see the header of $0)" >&2; exit 2 ;;
  esac
done
prefix="${prefix:-$venv}"
python="$venv/bin/python"
[[ -x "$python" ]] || { echo "build_msgs.sh: no Python at $python: run scripts/setup.sh first" >&2; exit 1; }
command -v cmake >/dev/null || { echo "build_msgs.sh: cmake is missing (apt-get install cmake g++)" >&2; exit 1; }

# The wheels' exported CMake files name the include dirs of the machine that built them
# (/opt/python/cp3NN-cp3NN/...): point them at this venv's Python headers and numpy headers.
"$python" - "$venv/share" <<'PY'
import pathlib
import re
import sys
import sysconfig

import numpy

python_include = sysconfig.get_path("include")
builder_python = re.compile(r"/opt/python/cp3\d+-cp3\d+/include/python3\.\d+")
builder_numpy = re.compile(r"/opt/python/cp3\d+-cp3\d+/lib/python3\.\d+/site-packages/numpy/_core/include")
for cmake_file in pathlib.Path(sys.argv[1]).rglob("*.cmake"):
    text = cmake_file.read_text()
    if "/opt/python/" not in text:
        continue
    text = builder_numpy.sub(numpy.get_include(), text)
    text = builder_python.sub(python_include, text)
    cmake_file.write_text(text)
PY

if $clean; then rm -rf "$build_dir"; fi
export AMENT_PREFIX_PATH="$venv${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
export PATH="$venv/bin:$PATH"
cmake -S "$repo_root" -B "$build_dir" \
  -DCMAKE_INSTALL_PREFIX="$prefix" \
  -DCMAKE_BUILD_TYPE=Release \
  -DBUILD_TESTING=OFF \
  -DDEEPHAR_INSTALL_PYTHON_SOURCES=OFF \
  -DPython3_EXECUTABLE="$python" \
  -DPYTHON_EXECUTABLE="$python"
cmake --build "$build_dir" --parallel "$(nproc)"
cmake --install "$build_dir"
