"""`deephar-ros run` end to end with the real network (random weights) on the sample video and a folder."""

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from deephar_ros.model.labels import load_labels
from deephar_ros.offline import video_job

SAMPLE_VIDEO = Path(__file__).resolve().parents[1] / "data" / "vtest.avi"


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="deephar-ros run")
    video_job.add_arguments(parser)
    return video_job.main(parser.parse_args(list(argv)))


def read_records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "frames.jsonl").read_text().splitlines()]


@pytest.fixture
def sample_video() -> Path:
    if not SAMPLE_VIDEO.is_file():
        if os.environ.get("CI"):
            pytest.fail(f"{SAMPLE_VIDEO} missing in CI: scripts/fetch_sample_video.sh must run first")
        pytest.skip(f"{SAMPLE_VIDEO} absent: run scripts/fetch_sample_video.sh")
    return SAMPLE_VIDEO


def test_sample_video_with_random_weights(sample_video, tmp_path, capsys):
    out = tmp_path / "run"
    frames = 12  # with a clip stride of 1 the first clip of 8 frames is full at frame 7
    assert (
        run(
            str(sample_video),
            "--random-weights",
            "--max-frames",
            str(frames),
            "--out",
            str(out),
            "--clip-stride",
            "1",
            "--backend",
            "cpu-eager",
        )
        == 0
    )
    captured = capsys.readouterr()
    assert "RANDOM WEIGHTS" in captured.out and f"{frames} frames" in captured.out
    assert f"{frames}/{frames}" in captured.err  # the progress bar

    records = read_records(out)
    assert [r["frame"] for r in records] == list(range(frames))
    assert [r["stamp_ns"] for r in records] == [i * 100_000_000 for i in range(frames)]
    assert all(r["random_weights"] is True and (r["width"], r["height"]) == (768, 576) for r in records)
    people = [p for r in records for p in r["people"]]
    assert len(people) >= frames  # the sample video shows several walkers at once
    for record in records:
        ids = [p["id"] for p in record["people"]]
        # body ids, as the node's messages, TF and /humans name a person
        assert len(ids) == len(set(ids)) and all(i.startswith("b") and int(i[1:]) > 0 for i in ids)
    for person in people:
        assert len(person["box"]) == 4
        assert np.asarray(person["joints_2d"]).shape == (17, 2)
        assert np.isfinite(np.asarray(person["joints_3d"], dtype=float)).all()
        assert np.asarray(person["joints_3d"]).shape == (17, 3)
        assert len(person["confidences"]) == 17
    actions = [p["action"] for p in people if p["action"] is not None]
    assert actions, "no track had a full clip"
    labels = set(load_labels("ntu60"))
    for action in actions:
        assert len(action["top_k"]) == 5 and {label for label, _ in action["top_k"]} <= labels
        assert action["label_set"] == "ntu60"
        # random weights score about 1/60 each: below the default 0.5, so uncertain, with no label
        assert (action["uncertain"], action["label"], action["label_id"]) == (True, "", -1)
        assert action["score"] == action["top_k"][0][1]

    summary = json.loads((out / "summary.json").read_text())
    assert summary["random_weights"] is True and summary["weights"].startswith("random")
    assert summary["frames"] == frames and summary["person_detections"] == len(people)
    assert summary["tracks"] == len({p["id"] for p in people})

    video = cv2.VideoCapture(str(out / summary["outputs"]["video"]))
    assert video.isOpened()
    decoded = 0
    while True:
        ok, image = video.read()
        if not ok:
            break
        assert image.shape == (576, 768, 3)
        decoded += 1
    video.release()
    assert decoded == frames
    sheet = cv2.imread(str(out / "contact_sheet.png"))
    assert sheet is not None and sheet.shape[0] > 300 and sheet.shape[1] > 1000


def test_image_folder_with_the_2d_model(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        cv2.imwrite(str(folder / f"{i:03d}.png"), rng.integers(0, 255, (120, 96, 3), dtype=np.uint8))
    (folder / "notes.txt").write_text("not an image")
    out = tmp_path / "out"
    assert (
        run(
            str(folder),
            "--random-weights",
            "--model",
            "penn_multitask",
            "--detector",
            "full-frame",
            "--fps",
            "5",
            "--out",
            str(out),
            "--backend",
            "cpu-eager",
        )
        == 0
    )
    records = read_records(out)
    assert [r["stamp_ns"] for r in records] == [0, 200_000_000, 400_000_000]
    for record in records:
        (person,) = record["people"]
        assert person["box"] == [0.0, 0.0, 96.0, 120.0]
        assert np.asarray(person["joints_2d"]).shape == (16, 2)
        assert person["joints_3d"] == [[None, None, None]] * 16  # a 2D model has no metres
    assert cv2.imread(str(out / "contact_sheet.png")) is not None


def test_a_weightless_run_is_refused_with_directions(tmp_path, capsys):
    out = tmp_path / "out"
    assert run(str(tmp_path), "--out", str(out)) == 2
    error = capsys.readouterr().err
    assert "deephar-ros download" in error and "--random-weights" in error and "model/README.md" in error
    assert not out.exists()


def test_missing_inputs_are_refused(tmp_path, capsys):
    assert run(str(tmp_path / "nothing.mp4"), "--random-weights", "--out", str(tmp_path / "o")) == 2
    assert "no video file or image folder" in capsys.readouterr().err
    assert run(str(tmp_path), "--weights", str(tmp_path / "w.hdf5"), "--out", str(tmp_path / "o")) == 2
    assert "weights file not found" in capsys.readouterr().err
    assert run(str(tmp_path), "--random-weights", "--out", str(tmp_path / "o")) == 2
    assert "no images" in capsys.readouterr().err


def test_a_missing_or_broken_detector_file_is_refused_before_the_network_loads(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DEEPHAR_ROS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(video_job, "build_engine", lambda *a, **k: pytest.fail("the network was loaded"))
    folder = folder_of_frames(tmp_path / "frames", 1)
    out = str(tmp_path / "out")
    assert run(str(folder), *PLUMBING[:1], "--detector", "yolox-tiny", "--out", out) == 2
    assert "deephar-ros download --detector yolox-tiny" in capsys.readouterr().err
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    assert (
        run(
            str(folder),
            *PLUMBING[:1],
            "--detector",
            "yolox-s",
            "--detector-weights",
            str(broken),
            "--out",
            out,
        )
        == 2
    )
    assert str(broken) in capsys.readouterr().err
    assert run(str(folder), *PLUMBING[:1], "--detector-weights", str(broken), "--out", out) == 2
    assert "takes no weights file" in capsys.readouterr().err


def test_the_authors_clip_options_and_the_threshold_reach_the_pipeline(tmp_path, monkeypatch):
    class Built(Exception):
        """Stops the run once the pipeline's arguments are caught."""

    built = []

    def catch(*args):
        built.append(args)
        raise Built

    monkeypatch.setattr(video_job, "Pipeline", catch)
    folder = folder_of_frames(tmp_path / "frames", 1)
    options = ["--action-window", "frame", "--fixed-depth-scale", "--min-score", "0.25"]
    with pytest.raises(Built):
        run(str(folder), *PLUMBING, *options, "--out", str(tmp_path / "out"))
    ((_, config, detector),) = built
    assert (config.action_window, config.depth_scale_from_window, config.min_score) == ("frame", False, 0.25)
    assert type(detector).__name__ == "FullFrameDetector"


def test_weights_file_run_says_nothing_of_random_weights(ntu_reference_dir, tmp_path, capsys):
    weights = tmp_path / "weights.h5"  # a copy: loading caches the converted checkpoint beside the file
    weights.write_bytes((ntu_reference_dir / "weights.h5").read_bytes())
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(2):
        cv2.imwrite(str(folder / f"{i}.jpg"), np.full((90, 120, 3), 40 * i, np.uint8))
    out = tmp_path / "out"
    assert (
        run(
            str(folder),
            "--weights",
            str(weights),
            "--detector",
            "full-frame",
            "--out",
            str(out),
            "--backend",
            "cpu-eager",
        )
        == 0
    )
    assert "RANDOM" not in capsys.readouterr().out
    assert all(r["random_weights"] is False for r in read_records(out))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["weights"] == str(weights) and summary["random_weights"] is False


def folder_of_frames(folder: Path, count: int) -> Path:
    folder.mkdir()
    for i in range(count):
        cv2.imwrite(str(folder / f"{i:03d}.png"), np.full((120, 96, 3), 30 * i, np.uint8))
    return folder


PLUMBING = ("--random-weights", "--detector", "full-frame", "--backend", "cpu-eager")


def test_unreadable_images_are_skipped_with_a_warning_and_counted(tmp_path, capsys):
    folder = folder_of_frames(tmp_path / "frames", 3)
    (folder / "001.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")  # sorted between the good ones
    (folder / "004.jpg").write_bytes(b"")
    out = tmp_path / "out"
    assert run(str(folder), *PLUMBING, "--out", str(out)) == 0
    assert "skipping unreadable image" in capsys.readouterr().err
    records = read_records(out)
    assert [r["frame"] for r in records] == [0, 2]  # frame 2 keeps its time slot: 0.2 s at 10 fps
    assert [r["stamp_ns"] for r in records] == [0, 200_000_000]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["unreadable_images"] == [str(folder / "001.png"), str(folder / "004.jpg")]


def test_a_truncated_video_says_so_and_exits_non_zero(tmp_path, capsys):
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (96, 120))
    rng = np.random.default_rng(1)
    for _ in range(40):
        writer.write(rng.integers(0, 255, (120, 96, 3), dtype=np.uint8))
    writer.release()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 4])  # a copy cut short
    out = tmp_path / "out"
    assert run(str(path), *PLUMBING, "--out", str(out)) == 1
    error = capsys.readouterr().err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["ended_early"] is True and summary["frames_declared"] == 40
    assert 0 < summary["frames"] < 40 and f"ended after {summary['frames']} of the 40 frames" in error
    assert len(read_records(out)) == summary["frames"]


def test_an_unwritable_output_folder_fails_before_the_model_loads(tmp_path, capsys, monkeypatch):
    def no_model(*args, **kwargs):
        raise AssertionError("the model was loaded before the output folder was checked")

    monkeypatch.setattr(video_job, "build_engine", no_model)
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    folder = folder_of_frames(tmp_path / "frames", 1)
    assert run(str(folder), *PLUMBING, "--out", str(blocker / "out")) == 2
    assert "cannot write to output folder" in capsys.readouterr().err


def test_a_new_run_replaces_every_output_of_the_previous_one(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "summary.json").write_text('{"from": "an older run"}')
    (out / "annotated.avi").write_bytes(b"old")
    (out / "notes.txt").write_text("the user's own file")
    folder = folder_of_frames(tmp_path / "frames", 2)
    assert run(str(folder), *PLUMBING, "--out", str(out)) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames"] == 2 and summary["interrupted"] is None
    written = {path.name for path in out.iterdir()}
    assert written == {
        "frames.jsonl",
        summary["outputs"]["video"],
        "contact_sheet.png",
        "summary.json",
        "notes.txt",
    }


def count_video_frames(path: Path) -> int:
    video = cv2.VideoCapture(str(path))
    decoded = 0
    while video.read()[0]:
        decoded += 1
    video.release()
    return decoded


def signal_on_frame(monkeypatch, at_frame: int, signums: tuple[int, ...]) -> None:
    """Send these signals to this process while frame `at_frame` is between its JSON line and the sheet."""
    offer = video_job.ContactSheet.offer

    def offer_then_signal(sheet, index, image):
        offer(sheet, index, image)
        if index == at_frame:
            for signum in signums:
                os.kill(os.getpid(), signum)

    monkeypatch.setattr(video_job.ContactSheet, "offer", offer_then_signal)


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_mid_frame_finishes_that_frame_in_every_output(
    signum, status, tmp_path, monkeypatch, capsys
):
    folder = folder_of_frames(tmp_path / "frames", 6)
    out = tmp_path / "out"
    signal_on_frame(monkeypatch, 2, (signum,))
    assert run(str(folder), *PLUMBING, "--out", str(out)) == status
    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames"] == 3 and summary["interrupted"] == signal.Signals(signum).name
    assert len(read_records(out)) == 3
    assert count_video_frames(out / summary["outputs"]["video"]) == 3
    assert "finishing the frame in hand" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the job's handlers are gone


def test_a_second_signal_stops_at_once(tmp_path, monkeypatch):
    folder = folder_of_frames(tmp_path / "frames", 6)
    out = tmp_path / "out"
    signal_on_frame(monkeypatch, 2, (signal.SIGINT, signal.SIGINT))
    assert run(str(folder), *PLUMBING, "--out", str(out)) == 130
    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames"] == 2 and summary["interrupted"] == "SIGINT"  # frame 2 was cut short
    assert count_video_frames(out / summary["outputs"]["video"]) == 3  # its video frame was written


@pytest.mark.slow
def test_sigterm_finishes_the_video_and_the_json_lines(sample_video, tmp_path):
    out = tmp_path / "out"
    command = [
        sys.executable,
        "-m",
        "deephar_ros.offline.cli",
        "run",
        str(sample_video),
        *PLUMBING,
        "--out",
        str(out),
    ]
    job = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        give_up = time.monotonic() + 240
        while not any(len(p.read_text().splitlines()) >= 3 for p in out.glob(".partial-*/frames.jsonl")):
            assert job.poll() is None and time.monotonic() < give_up, "the run never got going"
            time.sleep(0.05)
        job.send_signal(signal.SIGTERM)
        _, error = job.communicate(timeout=120)
    finally:
        job.kill()
    assert job.returncode == 143 and "Traceback" not in error and "stopped by SIGTERM" in error
    summary = json.loads((out / "summary.json").read_text())
    frames = summary["frames"]
    assert summary["interrupted"] == "SIGTERM" and 3 <= frames < 795 and not summary["ended_early"]
    assert len(read_records(out)) == frames
    assert (
        count_video_frames(out / summary["outputs"]["video"]) == frames
    )  # the container was finished: every frame written plays
    assert not list(out.glob(".partial-*"))


# A run keeps what it finished (issue 18).


def error_lines(err: str) -> list[str]:
    """The lines of stderr that are not the progress bar's."""
    return [line for line in err.splitlines() if line.strip() and not line.startswith(("\r", "["))]


def test_a_frame_the_pipeline_fails_on_is_skipped_counted_and_listed(tmp_path, capsys):
    folder = folder_of_frames(tmp_path / "frames", 3)
    cv2.imwrite(str(folder / "001b.png"), np.zeros((10, 10000, 3), np.uint8))  # over the pipeline's side
    out = tmp_path / "out"
    assert run(str(folder), *PLUMBING, "--out", str(out)) == 0
    err = capsys.readouterr().err
    assert "frame 2 skipped" in err and "skipped 1 frame(s) the pipeline failed on" in err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames"] == 3 and summary["incomplete"] is False
    (failure,) = summary["failed_frames"]
    assert failure["index"] == 2 and "10000x10" in failure["error"]
    assert [r["frame"] for r in read_records(out)] == [0, 1, 3]


def test_a_fatal_error_keeps_the_finished_frames_and_a_summary_marked_incomplete(
    tmp_path, capsys, monkeypatch
):
    write = video_job.JsonLinesWriter.write
    written = []

    def disk_fills_at_the_third_frame(writer, record):
        if len(written) == 2:
            raise OSError(28, "No space left on device")
        written.append(record)
        write(writer, record)

    monkeypatch.setattr(video_job.JsonLinesWriter, "write", disk_fills_at_the_third_frame)
    folder = folder_of_frames(tmp_path / "frames", 5)
    out = tmp_path / "out"
    assert run(str(folder), *PLUMBING, "--out", str(out)) == 1
    (line,) = error_lines(capsys.readouterr().err)
    assert line.startswith("deephar-ros run: stopped after 2 frames by OSError") and "No space left" in line
    summary = json.loads((out / "summary.json").read_text())
    assert (
        summary["incomplete"] is True and "No space left" in summary["fatal_error"] and summary["frames"] == 2
    )
    assert len(read_records(out)) == 2 and (out / "contact_sheet.png").is_file()
    assert not list(out.glob(".partial-*"))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("nan", "holds 1 NaN or infinite"),
        ("absurd", "holds a weight of magnitude 3e+38"),
        ("cut", "truncated"),
        ("garbage", "truncated or corrupt?): UnpicklingError"),  # torch.load's message is many lines
    ],
)
def test_broken_weights_end_the_run_with_one_line(tmp_path, capsys, damage, message):
    from deephar_ros.model.keras_weights import random_model, save_checkpoint

    model = random_model("penn_multitask")
    with torch.no_grad():
        model.entry_flow.conv1.weight[0, 0, 0, 0] = float("nan") if damage == "nan" else 3e38
    path = tmp_path / "weights.pt"
    save_checkpoint(model, path)
    if damage == "cut":
        path.write_bytes(path.read_bytes()[:5000])
    elif damage == "garbage":
        path.write_bytes(b"not a checkpoint at all" * 10)
    folder = folder_of_frames(tmp_path / "frames", 1)
    argv = [
        "--weights",
        str(path),
        "--model",
        "penn_multitask",
        "--detector",
        "full-frame",
        "--backend",
        "cpu-eager",
    ]
    assert run(str(folder), *argv, "--out", str(tmp_path / "out")) == 1
    (line,) = error_lines(capsys.readouterr().err)
    assert line.startswith("deephar-ros run: ") and message in line


def test_staging_folders_of_killed_runs_are_removed_and_a_live_one_kept(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    killed = out / ".partial-killed"
    killed.mkdir()
    (killed / "pid").write_text(finished.stdout.strip())  # that process is gone
    old = out / ".partial-old"
    old.mkdir()
    (old / "frames.jsonl").write_text("")
    os.utime(old, (time.time() - 2 * video_job.STALE_STAGING_S,) * 2)
    live = out / ".partial-live"
    live.mkdir()
    (live / "pid").write_text(str(os.getppid()))  # a process that is running
    folder = folder_of_frames(tmp_path / "frames", 1)
    assert run(str(folder), *PLUMBING, "--out", str(out)) == 0
    assert sorted(path.name for path in out.glob(".partial-*")) == [".partial-live"]


def test_the_output_folder_is_never_read_as_input(tmp_path):
    folder = folder_of_frames(tmp_path / "frames", 2)
    for _ in range(2):  # the second run would read the first one's contact sheet as a third frame
        assert run(str(folder), *PLUMBING, "--out", str(folder)) == 0
        assert json.loads((folder / "summary.json").read_text())["frames"] == 2


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--weights", "{tmp}"), "is a directory: name the .h5/.hdf5 or .pt file in it"),
        (("--random-weights", "--clip-stride", "-4"), "--clip-stride must be 0 (the authors') or a positive"),
    ],
)
def test_bad_options_are_refused_with_one_line(tmp_path, capsys, argv, message):
    folder = folder_of_frames(tmp_path / "frames", 1)
    argv = [arg.format(tmp=tmp_path) for arg in argv]
    assert run(str(folder), *argv, "--out", str(tmp_path / "out")) == 2
    (line,) = error_lines(capsys.readouterr().err)
    assert message in line
