#!/usr/bin/env bash
# The README's main job: set-up, then the whole pipeline on the sample video of real people.
#   bash scripts/demo.sh [more `deephar-ros run` options]
# Writes out/demo/: the annotated video, a contact-sheet PNG and JSON lines (see the README).
#
# Weights: $DEEPHAR_WEIGHTS if set, else a released NTU file in cache/weights/, else `deephar-ros
# download` is tried; when that fails (offline) the network runs with RANDOM weights and the run says
# so: the skeletons and actions are then meaningless, only the plumbing is shown.
# Environment: DEEPHAR_WEIGHTS, DEEPHAR_DEMO_VIDEO (default data/vtest.avi), DEEPHAR_DEMO_OUT (default
# out/demo), DEEPHAR_DEMO_MAX_FRAMES (default 300, i.e. 30 s of the sample video; 0 = all).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

bash scripts/setup.sh

deephar_ros=".venv/bin/deephar-ros"
video="${DEEPHAR_DEMO_VIDEO:-data/vtest.avi}"
out_dir="${DEEPHAR_DEMO_OUT:-out/demo}"
max_frames="${DEEPHAR_DEMO_MAX_FRAMES:-300}"
weights_cache="cache/weights"

[[ -s "$video" ]] || {
  echo "demo: no video at $video: run scripts/fetch_sample_video.sh or set DEEPHAR_DEMO_VIDEO" >&2
  exit 1
}

find_cached_weights() { find "$weights_cache" -maxdepth 1 -name 'weights_*ntu*.hdf5' 2>/dev/null | sort | head -n 1; }

weights="${DEEPHAR_WEIGHTS:-}"
if [[ -n "$weights" && ! -s "$weights" ]]; then
  echo "demo: DEEPHAR_WEIGHTS=$weights is not a readable file" >&2
  exit 1
fi
[[ -n "$weights" ]] || weights="$(find_cached_weights)"
if [[ -z "$weights" ]]; then
  echo "demo: no weights here: trying to download the released NTU weights into $weights_cache"
  if "$deephar_ros" download --config ntu_multitask --cache-dir "$weights_cache"; then
    weights="$(find_cached_weights)"
  fi
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
