"""`deephar-ros run VIDEO|FOLDER`: the whole pipeline on a video file or an image folder, offline.

Writes to --out: `frames.jsonl` (one record per frame), an annotated video (`annotated.mp4`, or
`annotated.avi` where OpenCV here cannot write mp4v), `contact_sheet.png` and `summary.json`; shows a
progress bar on stderr and prints a summary. A run without weights is refused unless
--random-weights is given; then the JSON, the images and the summary all say so.

The outputs are written into a hidden staging folder inside --out and moved into place at the end,
replacing the previous run's, so --out never mixes two runs. Ctrl-C or SIGTERM stops the run
cleanly after the frame in hand (a second signal stops at once): the video container is finished,
the JSON lines kept, the summary says `interrupted`, and the exit status is 130 (SIGINT) or 143
(SIGTERM). A video that ends before the frame count it
declares (a truncated file) is reported and exits 1 after writing what it had.

A run keeps what it finished (issue 18). A frame the pipeline fails on (an image it refuses, a
network output it cannot use) is skipped, counted and listed in summary.json (`failed_frames`). A
fatal error (a full disk, a back end that breaks) ends the run with one line on stderr and exit
status 1, and the frames finished before it are moved into --out with a summary marked
`incomplete`. Staging folders of runs killed outright (SIGKILL, power loss) are removed by the next
run into the same --out, and --out is never read as input when it is the source folder itself.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

import cv2

from deephar_ros.inference.engine import build_engine
from deephar_ros.model.joints import get_layout
from deephar_ros.offline.drawing import draw_result, weights_banner
from deephar_ros.offline.people_clips import people_clips_from
from deephar_ros.offline.run_options import add_arguments as add_arguments  # the job's options, with the job
from deephar_ros.offline.video import (
    AnnotatedVideoWriter,
    ContactSheet,
    FrameSource,
    JsonLinesWriter,
    ProgressBar,
    frame_record,
)
from deephar_ros.perception.detection import create_detector
from deephar_ros.perception.person_detector import PersonDetector
from deephar_ros.perception.pipeline import Pipeline, PipelineConfig

NO_WEIGHTS_MESSAGE = (
    "deephar-ros run: no weights given. Get the released weights with `deephar-ros download` "
    "(see model/README.md), then pass --weights PATH. To check only the plumbing and the speed, "
    "add --random-weights (every output then says its skeletons and actions are meaningless)."
)
# What a run writes into --out; the previous run's are replaced together at the end of a run.
OUTPUT_FILES = ("frames.jsonl", "annotated.mp4", "annotated.avi", "contact_sheet.png", "summary.json")
EXIT_TRUNCATED = 1
EXIT_FAILED = 1
EXIT_USAGE = 2
# A staging folder whose run left no process id (or an unreadable one) is stale after this long.
STALE_STAGING_S = 3600.0
STAGING_PREFIX = ".partial-"
STAGING_OWNER = "pid"
# Per-frame failures printed on stderr; the rest are only counted and listed in summary.json.
PRINTED_FAILURES = 10
EXIT_INTERRUPTED = {"SIGINT": 130, "SIGTERM": 143}


class RunInterrupted(Exception):
    """A second SIGTERM arrived: the run stops at once and finishes its files."""


def main(args: argparse.Namespace) -> int:
    """Run the job; 0 on success, 1 for a truncated video, 2 on a usage error, 130/143 when stopped."""
    if not args.weights and not args.random_weights:
        print(NO_WEIGHTS_MESSAGE, file=sys.stderr)
        return EXIT_USAGE
    if args.weights and Path(args.weights).is_dir():
        print(
            f"deephar-ros run: --weights {args.weights} is a directory: name the .h5/.hdf5 or .pt file in it",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if args.weights and not Path(args.weights).is_file():
        print(f"deephar-ros run: weights file not found: {args.weights}", file=sys.stderr)
        return EXIT_USAGE
    if args.clip_stride is not None and args.clip_stride < 0:
        print(
            f"deephar-ros run: --clip-stride must be 0 (the authors') or a positive number of frames, "
            f"got {args.clip_stride}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    out_dir = Path(args.out)
    try:  # the detector first: a missing detector file or onnxruntime fails before anything loads
        detector = create_detector(
            args.detector,
            args.min_score,
            PipelineConfig.max_people,
            device=args.device,
            weights=args.detector_weights,
        )
        outputs = [out_dir / name for name in OUTPUT_FILES]  # a previous run's, never read as frames
        source = FrameSource(args.source, fps=args.fps, max_frames=args.max_frames, exclude=outputs)
    except (ValueError, ImportError) as error:
        print(f"deephar-ros run: {error}", file=sys.stderr)
        return EXIT_USAGE
    try:  # before the model loads: an unwritable --out fails at once
        out_dir.mkdir(parents=True, exist_ok=True)
        remove_stale_staging(out_dir)
        staging = Path(tempfile.mkdtemp(dir=out_dir, prefix=STAGING_PREFIX))
        (staging / STAGING_OWNER).write_text(str(os.getpid()), encoding="utf-8")
    except OSError as error:
        source.close()
        print(f"deephar-ros run: cannot write to output folder {out_dir}: {error}", file=sys.stderr)
        return EXIT_USAGE
    try:
        return _run(args, source, detector, staging, out_dir)
    except (ValueError, OSError, RuntimeError, ImportError) as error:  # weights or set-up: no frame yet
        print(f"deephar-ros run: {error}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        source.close()
        shutil.rmtree(staging, ignore_errors=True)


def remove_stale_staging(out_dir: Path) -> list[Path]:
    """Remove the staging folders of runs that died without cleaning up (SIGKILL); the ones removed.

    A staging folder names the process that writes it; one whose process is gone is stale, and one
    naming none (or none readable) is stale after STALE_STAGING_S. A run in progress is left alone.
    """
    removed = []
    for folder in out_dir.glob(f"{STAGING_PREFIX}*"):
        if folder.is_dir() and _staging_is_stale(folder):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def _staging_is_stale(folder: Path) -> bool:
    try:
        pid = int((folder / STAGING_OWNER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return time.time() - folder.stat().st_mtime > STALE_STAGING_S
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


class StopSignals:
    """SIGINT and SIGTERM ask the run to stop after the frame in hand, so every output holds the same frames.

    A signal that struck between writing a frame's JSON line and its video frame would leave the files
    disagreeing; instead the first signal is noted and the loop stops at the next frame boundary. A
    second signal stops at once (an impatient Ctrl-C still works), as Ctrl-C or SIGTERM would.
    Handlers are installed only in the main thread, where Python delivers signals.
    """

    def __init__(self) -> None:
        self.requested: str | None = None
        self._previous: dict[int, object] = {}

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._on_signal)
        return self

    def __exit__(self, *exc_info: object) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)

    def _on_signal(self, signum: int, frame: object) -> None:
        name = signal.Signals(signum).name
        if self.requested is not None:
            self.requested = name
            raise KeyboardInterrupt if signum == signal.SIGINT else RunInterrupted
        self.requested = name
        print(
            f"\ndeephar-ros run: {name}: finishing the frame in hand (send it again to stop at once)",
            file=sys.stderr,
        )


def _run(
    args: argparse.Namespace, source: FrameSource, detector: PersonDetector, staging: Path, out_dir: Path
) -> int:
    engine = build_engine(
        args.model,
        args.weights,
        args.backend,
        args.device,
        random_weights=args.random_weights,
        precision=args.precision,
        guard_clips=people_clips_from(),
    )
    layout = get_layout(engine.config.joint_layout)
    pipeline = Pipeline(
        engine,
        PipelineConfig(
            detector=args.detector,
            min_score=args.min_score,
            crop_source=args.crop_source,
            detect_every_n_frames=args.detect_every,
            frame_rate_hz=source.fps,
            clip_stride=args.clip_stride,
            flip_tta=args.flip_tta,
            action_scoring=args.action_scoring,
            mirrored_action_pass=args.mirrored_action_pass,
            action_window=args.action_window,
            depth_scale_from_window=not args.fixed_depth_scale,
            smoothing=args.smoothing,
        ),
        detector,
    )
    banner = weights_banner(engine.random_weights)
    records = JsonLinesWriter(staging / "frames.jsonl")
    sheet = ContactSheet()
    progress = ProgressBar(source.total)
    video = None
    frames = detections = non_finite = 0
    failed: list[dict] = []
    fatal: str | None = None
    track_ids: set[int] = set()
    started = time.perf_counter()
    with StopSignals() as stops:
        try:
            for frame in source:
                try:
                    result = pipeline.process(frame.image, frame.stamp_ns)
                    annotated = draw_result(
                        frame.image,
                        result,
                        layout.bones,
                        banner,
                        min_action_confidence=args.min_action_confidence,
                    )
                except (ValueError, RuntimeError, ArithmeticError, cv2.error) as error:  # this frame only
                    failed.append({"index": frame.index, "error": f"{type(error).__name__}: {error}"})
                    if len(failed) <= PRINTED_FAILURES:
                        print(
                            f"\nwarning: frame {frame.index} skipped: {failed[-1]['error']}", file=sys.stderr
                        )
                    continue
                non_finite += result.non_finite_people
                if video is None:
                    size = (annotated.shape[1], annotated.shape[0])
                    video = AnnotatedVideoWriter(staging / "annotated", source.fps, size)
                video.write(annotated)
                records.write(
                    frame_record(
                        result, frame.index, engine.random_weights, args.top_k, args.min_action_confidence
                    )
                )
                sheet.offer(frame.index, annotated)
                frames += 1
                detections += len(result.people)
                track_ids.update(person.track_id for person in result.people)
                progress.update(frames, len(result.people))
                if stops.requested:
                    break
        except (KeyboardInterrupt, RunInterrupted):
            pass  # a second signal: stop at once
        except Exception as error:  # fatal (a full disk, a broken back end): keep what was finished
            fatal = f"{type(error).__name__}: {error}"
        finally:
            interrupted = stops.requested
            progress.finish()
            for closing in (records.close, source.close, video.close if video is not None else None):
                try:  # the video's close finishes its container: it plays however the run ended
                    if closing is not None:
                        closing()
                except OSError as error:
                    fatal = fatal or f"{type(error).__name__}: {error}"
    elapsed = time.perf_counter() - started
    if frames == 0:
        reason = f" ({fatal})" if fatal else f" ({len(failed)} failed)" if failed else ""
        print(f"deephar-ros run: no frames could be processed from {args.source}{reason}", file=sys.stderr)
        return (
            EXIT_INTERRUPTED[interrupted] if interrupted else EXIT_FAILED if fatal or failed else EXIT_USAGE
        )
    try:
        sheet.save(staging / "contact_sheet.png")
    except (OSError, cv2.error) as error:
        fatal = fatal or f"{type(error).__name__}: {error}"
    ended_early = source.ended_early and interrupted is None
    summary = {
        "source": str(args.source),
        "model": engine.config.name,
        "detector": args.detector,
        "weights": engine.weights,
        "random_weights": engine.random_weights,
        "backend": engine.backend,
        "device": engine.device,
        "precision": engine.precision,
        "precision_note": engine.precision_note,
        "frames": frames,
        "frames_declared": source.declared,
        "ended_early": ended_early,
        "interrupted": interrupted,
        "incomplete": fatal is not None,
        "fatal_error": fatal,
        "unreadable_images": source.unreadable,
        "failed_frames": failed,
        "people_dropped_non_finite": non_finite,
        "person_detections": detections,
        "tracks": len(track_ids),
        "seconds": round(elapsed, 3),
        "fps": round(frames / elapsed, 3),
        "joint_names": list(layout.joint_names),
        "outputs": {
            "frames": "frames.jsonl",
            "video": video.path.name,
            "contact_sheet": "contact_sheet.png",
        },
    }
    try:
        (staging / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    except OSError as error:  # a full disk: the frames finished are still worth keeping
        fatal = fatal or f"{type(error).__name__}: {error}"
    _replace_outputs(staging, out_dir)
    if fatal:
        print(
            f"deephar-ros run: stopped after {frames} frames by {fatal}; "
            f"the finished frames are in {out_dir}/ (summary.json: incomplete)",
            file=sys.stderr,
        )
        return EXIT_FAILED
    print(
        f"{frames} frames, {detections} person detections, {len(track_ids)} tracks, {summary['fps']:.2f} FPS "
        f"({engine.backend} {engine.precision} on {engine.device}); results in {out_dir}/"
    )
    if engine.random_weights:
        print(
            "RANDOM WEIGHTS: this run checks plumbing and speed only; skeletons and actions are meaningless"
        )
    if source.unreadable:
        print(f"deephar-ros run: skipped {len(source.unreadable)} unreadable image(s)", file=sys.stderr)
    if failed:
        print(
            f"deephar-ros run: skipped {len(failed)} frame(s) the pipeline failed on "
            "(summary.json: failed_frames)",
            file=sys.stderr,
        )
    if interrupted:
        print(f"deephar-ros run: stopped by {interrupted} after {frames} frames", file=sys.stderr)
        return EXIT_INTERRUPTED[interrupted]
    if ended_early:
        print(
            f"deephar-ros run: {args.source} ended after {frames} of the {source.total} frames it declares "
            "(truncated or damaged file?)",
            file=sys.stderr,
        )
        return EXIT_TRUNCATED
    return 0


def _replace_outputs(staging: Path, out_dir: Path) -> None:
    """The previous run's outputs out, this run's in (each move a rename within one file system)."""
    for name in OUTPUT_FILES:
        (out_dir / name).unlink(missing_ok=True)
    for path in staging.iterdir():
        if path.name != STAGING_OWNER:
            path.replace(out_dir / path.name)
