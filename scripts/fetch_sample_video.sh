#!/usr/bin/env bash
# Puts the sample video of real people at data/vtest.avi (768x576, 10 fps, 795 frames of pedestrians).
#
# Source, in order: the file named by $DEEPHAR_SAMPLE_VIDEO; else vtest.avi taken out of Debian's (or
# Ubuntu's) opencv-doc package, downloaded with `apt-get download` (nothing is installed). Does nothing
# when data/vtest.avi is already there.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target="$repo_root/data/vtest.avi"
member="./usr/share/doc/opencv-doc/examples/data/vtest.avi"

if [[ -s "$target" ]]; then
  echo "sample video: $target is there"
  exit 0
fi
mkdir -p "$(dirname "$target")"

if [[ -n "${DEEPHAR_SAMPLE_VIDEO:-}" ]]; then
  [[ -s "$DEEPHAR_SAMPLE_VIDEO" ]] || {
    echo "fetch_sample_video.sh: DEEPHAR_SAMPLE_VIDEO=$DEEPHAR_SAMPLE_VIDEO is not a readable file" >&2
    exit 1
  }
  cp "$DEEPHAR_SAMPLE_VIDEO" "$target.part"
  mv "$target.part" "$target"
  echo "sample video: copied $DEEPHAR_SAMPLE_VIDEO to $target"
  exit 0
fi

for tool in apt-get dpkg-deb; do
  command -v "$tool" >/dev/null || {
    echo "fetch_sample_video.sh: no $tool here: set DEEPHAR_SAMPLE_VIDEO=/path/to/a/video and run again" >&2
    exit 1
  }
done

download_dir="$(mktemp -d)"
trap 'rm -rf "$download_dir"' EXIT
download() { (cd "$download_dir" && apt-get download -q opencv-doc); }
if ! download; then
  # An empty or stale package list: refresh it once (needs root), then try again.
  if [[ "$(id -u)" == 0 ]]; then
    apt-get update -q
  elif command -v sudo >/dev/null; then
    sudo -n apt-get update -q || true
  fi
  download || {
    echo "fetch_sample_video.sh: could not download opencv-doc (run 'sudo apt-get update', or set" \
      "DEEPHAR_SAMPLE_VIDEO=/path/to/a/video)" >&2
    exit 1
  }
fi
dpkg-deb --fsys-tarfile "$download_dir"/opencv-doc_*.deb | tar -x -O "$member" >"$target.part"
mv "$target.part" "$target"
echo "sample video: $target ($(du -h "$target" | cut -f1)) from Debian's opencv-doc"
