#!/usr/bin/env bash
# The project's test command: set-up, then ruff, then the whole pytest suite.
# With CI=true it also builds msg/ with CMake from an empty build folder (installing the same files
# into the venv again), so a broken CMakeLists.txt or message fails CI even when the venv's messages
# are already built. (The venv lies inside the source tree, and CMake refuses to export include
# folders there to any other install prefix, so the venv is the prefix.)
# Extra arguments go to pytest (e.g. scripts/test.sh -k messages).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

bash scripts/setup.sh

if [[ "${CI:-}" == true ]]; then
  scratch="$(mktemp -d)"
  trap 'rm -rf "$scratch"' EXIT
  echo "test: CMake build of the package from a clean build folder"
  flock build/setup.lock bash scripts/build_msgs.sh --clean --build-dir "$scratch/build" \
    >"$scratch/build.log" 2>&1 || { tail -n 40 "$scratch/build.log"; echo "test: CMake build failed" >&2; exit 1; }
fi

echo "test: ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .

echo "test: pytest"
status=0
.venv/bin/python -m pytest -q "$@" || status=$?
if [[ $status == 5 ]]; then
  echo "test: pytest collected no tests: that is a failure" >&2
  exit 1
fi
exit $status
