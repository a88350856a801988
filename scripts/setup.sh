#!/usr/bin/env bash
# Sets the project up on this machine, idempotently (a second run takes about a second):
#   1. .venv with Python 3.11 (made only when missing; an existing one is kept and completed);
#   2. the pinned packages of requirements.txt (torch 2.13.0 CPU, ROS 2 Kilted wheels, build tools);
#   3. msg/ built with plain CMake into the venv (scripts/build_msgs.sh), so deephar_ros.msg imports;
#   4. this package installed editable (console scripts deephar-ros, perception_node, demo_source),
#      and the ament layout that `ros2 run` / `ros2 launch` look for (scripts/install_ament_layout.py:
#      share/deephar_ros/{launch,config,rviz,model,package.xml}, lib/deephar_ros/ executables, the
#      ament index marker), which an editable install does not write;
#   5. the sample video at data/vtest.avi (scripts/fetch_sample_video.sh; skipped with
#      DEEPHAR_SKIP_VIDEO=1, and only a warning when it cannot be fetched).
# Each step keeps a stamp in .venv/.deephar-setup/ holding a hash of its inputs and is redone only when
# they change. Environment: DEEPHAR_PYTHON (a Python 3.11 interpreter to make the venv with),
# DEEPHAR_SAMPLE_VIDEO (a video to use instead of Debian's), DEEPHAR_SKIP_VIDEO=1.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$repo_root/.venv"
stamps="$venv/.deephar-setup"
cd "$repo_root"

# One set-up at a time per checkout: test runs started together share the venv (and its msg build).
# scripts/test.sh takes the same lock for its CMake build.
mkdir -p build
exec {setup_lock}>build/setup.lock
flock "$setup_lock"

say() { echo "setup: $*"; }
fail() { echo "setup: $*" >&2; exit 1; }

find_python311() {
  local candidate
  for candidate in "${DEEPHAR_PYTHON:-}" python3.11 /usr/bin/python3.11 /usr/local/bin/python3.11 \
    "$HOME"/.pyenv/versions/3.11*/bin/python3.11; do
    [[ -n "$candidate" ]] || continue
    # A usable one says it is 3.11 and can make a venv with pip (Debian splits that into python3.11-venv).
    if "$candidate" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
      command -v "$candidate"
      return 0
    fi
  done
  return 1
}

# Hash of the named files' contents (and names), to key the stamps.
inputs_hash() { sha256sum "$@" | sha256sum | cut -c1-16; }

# Runs "$@" unless stamp $1 holds hash $2; writes the stamp after a success.
run_once() {
  local name="$1" hash="$2"
  shift 2
  if [[ "$(cat "$stamps/$name" 2>/dev/null)" == "$hash" ]]; then
    say "$name: up to date"
    return 0
  fi
  say "$name: ..."
  "$@"
  mkdir -p "$stamps"
  echo "$hash" >"$stamps/$name"
}

if [[ ! -x "$venv/bin/python" ]]; then
  python311="$(find_python311)" || fail "no Python 3.11 with the venv module found: install python3.11 and" \
    "python3.11-venv (apt), or set DEEPHAR_PYTHON=/path/to/python3.11"
  say "making $venv with $python311"
  "$python311" -m venv "$venv"
fi
"$venv/bin/python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' ||
  fail "$venv is not a Python 3.11 venv: move it away and run this again"

pip_install() { "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$@"; }
run_once requirements "$(inputs_hash requirements.txt)" pip_install -r requirements.txt

# Whatever the stamps say, redo a step whose result is missing from the venv: the editable install
# (deephar_ros must be these sources, from any folder) or the generated messages.
imports_from_elsewhere() { (cd / && "$venv/bin/python" -c "$1" 2>/dev/null); }
imports_from_elsewhere "import deephar_ros, sys; sys.exit(deephar_ros.__file__ != '$repo_root/deephar_ros/__init__.py')" ||
  rm -f "$stamps/package"
imports_from_elsewhere "import deephar_ros.msg" || rm -f "$stamps/messages"
build_messages() { bash scripts/build_msgs.sh --venv "$venv" >"$venv/.deephar-msg-build.log" 2>&1 ||
  fail "building msg/ failed, see $venv/.deephar-msg-build.log"; }
# Editable in "compat" mode (a .pth naming the repository root): setuptools' default editable finder is
# never asked once site-packages/deephar_ros (the generated messages) answers the import.
# (PYTHONWARNINGS hides setuptools' notice that compat mode is transitional: setuptools is pinned.)
install_package() { PYTHONWARNINGS="ignore:Compat editable" \
  pip_install --no-deps --no-build-isolation -e . --config-settings editable_mode=compat; }
run_once package "$(inputs_hash setup.py requirements.txt)" install_package
run_once messages "$(inputs_hash CMakeLists.txt package.xml msg/*.msg scripts/build_msgs.sh requirements.txt)" \
  build_messages

# After the messages: their CMake install also writes share/deephar_ros, and this completes it.
for installed in lib/deephar_ros/perception_node lib/deephar_ros/demo_source share/deephar_ros/launch \
  share/ament_index/resource_index/packages/deephar_ros; do
  [[ -e "$venv/$installed" ]] || rm -f "$stamps/layout"
done
run_once layout "$(inputs_hash package.xml nodes/* launch/* config/* rviz/* model/* deephar_ros/model/data/* scripts/install_ament_layout.py)" \
  "$venv/bin/python" scripts/install_ament_layout.py --prefix "$venv"

(cd / && "$venv/bin/python" -c 'import deephar_ros.msg') || fail "deephar_ros.msg does not import"

if [[ "${DEEPHAR_SKIP_VIDEO:-0}" != 1 ]]; then
  bash scripts/fetch_sample_video.sh || say "WARNING: no sample video; the demo needs one (see the README)"
fi
say "done: $venv"
