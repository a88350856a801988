#!/usr/bin/env bash
# The README's main job: set-up, then the whole pipeline on the sample video of real people.
#   bash scripts/demo.sh [more `deephar-ros run` options]
# Writes out/demo/: the annotated video, a contact-sheet PNG and JSON lines (see the README).
#
# Weights: $DEEPHAR_WEIGHTS if set, else the released NTU file from `deephar-ros download` (which
# answers from its cache, $DEEPHAR_ROS_CACHE or ~/.cache/deephar_ros, once downloaded); when that fails
# (offline) the network runs with RANDOM weights and the run says so: the skeletons and actions are
# then meaningless, only the plumbing is shown.
# Environment: DEEPHAR_WEIGHTS, DEEPHAR_DEMO_VIDEO (default data/vtest.avi), DEEPHAR_DEMO_OUT (default
# out/demo), DEEPHAR_DEMO_MAX_FRAMES (default 100, i.e. 10 s of the sample video; 0 = all).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

bash scripts/setup.sh

deephar_ros=".venv/bin/deephar-ros"
video="${DEEPHAR_DEMO_VIDEO:-data/vtest.avi}"
out_dir="${DEEPHAR_DEMO_OUT:-out/demo}"
max_frames="${DEEPHAR_DEMO_MAX_FRAMES:-100}"

[[ -s "$video" ]] || {
  echo "demo: no video at $video: run scripts/fetch_sample_video.sh or set DEEPHAR_DEMO_VIDEO" >&2
  exit 1
}

weights="${DEEPHAR_WEIGHTS:-}"
if [[ -n "$weights" && ! -s "$weights" ]]; then
  echo "demo: DEEPHAR_WEIGHTS=$weights is not a readable file" >&2
  exit 1
fi
if [[ -z "$weights" ]]; then
  echo "demo: getting the released NTU weights (deephar-ros download)"
  # It prints the file's path last; on failure (offline) its error goes to stderr and weights stays empty.
  weights="$("$deephar_ros" download --model ntu_multitask | tail -n 1)" || weights=""
  [[ -s "$weights" ]] || weights=""
fi

run_args=("$video" --out "$out_dir")
[[ "$max_frames" == 0 ]] || run_args+=(--max-frames "$max_frames")
if [[ -n "$weights" ]]; then
  run_args+=(--weights "$weights")
else
  cat >&2 <<'WARN'
################################################################################
# demo: NO WEIGHTS (download failed or offline). Running with RANDOM weights:  #
# the skeletons and actions drawn are MEANINGLESS; only the plumbing is shown. #
# Get the weights as the README's "Weights" section says, then run again.      #
################################################################################
WARN
  run_args+=(--random-weights)
fi

echo "demo: $deephar_ros run ${run_args[*]} $*"
"$deephar_ros" run "${run_args[@]}" "$@"
echo "demo: results in $out_dir/"
ls -l "$out_dir"
