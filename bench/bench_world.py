"""The whole pipeline scored in the world with ground truth (test/world/): no trained weights needed.

A perfect stand-in network and a detector that reads the truth (or OpenCV's HOG on the rendered
people, --hog) run the real pipeline on rendered scenes; the scores say what the pipeline itself
does to them: people found (recall, precision), duplicate skeletons, identity switches, detector
calls per frame, clips scored and their span under frame drops, 3D error with depth and with the
size prior. Speed is not measured here (the stand-ins cost nothing like SPNet or YOLOX).

    .venv/bin/python bench/bench_world.py            # full scenes (~5 min on 2 cores)
    .venv/bin/python bench/bench_world.py --quick    # CI-sized scenes (< 2 min)

The last line sums the pose-driven runs of the first table:
`duplicates=N id_switches=N recall=X detector_calls_per_frame=X`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "test"))

from machine import cpu_model
from world.harness import Run, run_scene
from world.scenes import make_scene
from world.scores import RunScores, score_run
from world.truth_detector import TruthDetector

from deephar_ros.perception.detection import HogPersonDetector
from deephar_ros.perception.pipeline import PipelineConfig


class CountingHog(HogPersonDetector):
    """OpenCV's HOG people detector, counting its calls like the truth detector (show() is a no-op)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def show(self, frame) -> None:
        pass

    def detect(self, image):
        self.calls += 1
        return super().detect(image)


def fmt(value: float) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def table(title: str, columns: list[str], rows: list[list]) -> None:
    print(f"\n{title}\n")
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(fmt(v) for v in row) + " |")


def crop_sources(scenes: list[str], duration: float | None, hog: bool) -> tuple[list[list], list[Run]]:
    """Detector on every frame against pose-driven crops, with a tight and a loose (1.6x) detector."""
    rows, pose_runs = [], []
    detectors = [
        ("truth", lambda: TruthDetector()),
        ("truth, 1.6x boxes", lambda: TruthDetector(box_scale=1.6)),
    ]
    if hog:
        detectors.append(("HOG", CountingHog))
    for name in scenes:
        scene = make_scene(name, duration_s=duration)
        for label, make_detector in detectors:
            for source in ("detector", "pose"):
                run = run_scene(scene, PipelineConfig(crop_source=source), detector=make_detector())
                s = score_run(run)
                rows.append(
                    [
                        name,
                        label,
                        source,
                        s.recall,
                        s.precision,
                        s.duplicates,
                        s.id_switches,
                        s.fragmentations,
                        s.detector_calls_per_frame,
                        s.error_2d_px,
                        s.clips_one_person,
                    ]
                )
                if source == "pose" and label == "truth":
                    pose_runs.append(s)
    return rows, pose_runs


def frame_drops(scenes: list[str], duration: float | None) -> list[list]:
    rows = []
    for name in scenes:
        scene = make_scene(name, duration_s=duration)
        full = None
        for drop in (0.0, 0.25, 0.5):
            s = score_run(run_scene(scene, PipelineConfig(), drop_rate=drop, seed=1))
            full = full or s.clips_scored
            rows.append(
                [
                    name,
                    f"{drop:.0%}",
                    s.frames,
                    s.clips_scored,
                    s.clips_scored / max(full, 1),
                    s.clips_authors_span,
                    s.clip_span_s,
                    s.action_accuracy,
                ]
            )
    return rows


def depth_sources(scenes: list[str], duration: float | None) -> list[list]:
    rows = []
    for name in scenes:
        for height in (None, 1.70):
            scene = make_scene(name, duration_s=duration, height_m=height)
            heights = ", ".join(f"{p.body.height_m:.2f}" for p in scene.people)
            for use_depth in (True, False):
                s = score_run(run_scene(scene, PipelineConfig(), use_depth=use_depth))
                rows.append(
                    [
                        name,
                        heights,
                        "depth image" if use_depth else "size prior",
                        s.error_3d_mm,
                        s.error_3d_p95_mm,
                    ]
                )
    return rows


def pose_total(runs: list[RunScores]) -> str:
    frames = sum(r.frames for r in runs)
    recall = sum(r.recall * r.frames for r in runs) / frames
    calls = sum(r.detector_calls_per_frame * r.frames for r in runs) / frames
    return (
        f"duplicates={sum(r.duplicates for r in runs)} id_switches={sum(r.id_switches for r in runs)} "
        f"recall={recall:.3f} detector_calls_per_frame={calls:.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="CI-sized scenes (3-4 s each, fewer of them)")
    parser.add_argument(
        "--hog", action="store_true", help="also OpenCV's HOG detector on the rendered people"
    )
    args = parser.parse_args()
    started = time.perf_counter()
    print(f"# bench_world on {cpu_model()}{' (quick)' if args.quick else ''}")
    if args.quick:
        crop_scenes, drop_scenes, depth_scenes, duration = (
            ["walk_across", "crossing", "street"],
            ["walk_across"],
            ["sit_stand"],
            4.0,
        )
    else:
        crop_scenes = ["walk_across", "walk_towards", "crossing", "leave_return", "cut", "street"]
        drop_scenes, depth_scenes, duration = (
            ["walk_across", "jump_wave"],
            ["walk_towards", "sit_stand"],
            None,
        )
    rows, pose_runs = crop_sources(crop_scenes, duration, args.hog)
    table(
        "Crop source: the detector on every frame, or pose-driven crops (detect_every_n_frames 10)",
        [
            "scene",
            "detector",
            "crops",
            "recall",
            "precision",
            "duplicates",
            "id switches",
            "fragmentations",
            "detector calls/frame",
            "2D error px",
            "clips of one person",
        ],
        rows,
    )
    table(
        "Frame drops on a 30 fps live stream (LiveStream, clips by time; NTU: 8 samples 8/30 s apart)",
        [
            "scene",
            "dropped",
            "frames processed",
            "clips scored",
            "vs no drops",
            "clips in the authors' span",
            "median clip span s",
            "action accuracy",
        ],
        frame_drops(drop_scenes, duration),
    )
    table(
        "Root depth: the depth image, or the size prior (a 1.70 m adult, torso 0.288 x height)",
        ["scene", "heights m", "root depth from", "3D error mm", "3D error p95 mm"],
        depth_sources(depth_scenes, duration),
    )
    print(f"\n{time.perf_counter() - started:.0f} s")
    print(pose_total(pose_runs))


if __name__ == "__main__":
    main()
