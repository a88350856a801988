"""The whole pipeline measured in a world with ground truth (test/world/): rendered people, a perfect
network and a detector that read the truth. Thresholds are set so that a regression breaks them:
with nothing imperfect the pipeline's own arithmetic is all that stands between truth and output."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from world.harness import run_scene
from world.perfect_network import PerfectNetwork
from world.render import decode_marker, render_frame
from world.scenes import J, make_scene
from world.scores import authors_clip_span_s, score_run
from world.truth_detector import TruthDetector

from deephar_ros.model.config import get_preset
from deephar_ros.perception.crops import crop_window, warp_crops
from deephar_ros.perception.pipeline import PipelineConfig


def test_a_scene_is_deterministic_and_its_render_tells_the_truth():
    scene = make_scene("crossing", seed=3, duration_s=1.0)
    a, b = render_frame(scene, scene.frame(12)), render_frame(scene, scene.frame(12))
    assert np.array_equal(a.rgb, b.rgb) and np.array_equal(a.depth, b.depth)
    other = render_frame(make_scene("crossing", seed=4, duration_s=1.0), scene.frame(12))
    assert not np.array_equal(a.rgb, other.rgb)  # the seed draws the background (and builds)
    own = 0
    for person in a.truth.people:
        for j in np.flatnonzero(person.visible):  # not hidden by someone else; maybe by their own limb
            u, v = np.rint(person.joints_2d[j]).astype(int)
            pid, joint, ok = decode_marker(a.rgb[v, u])
            assert ok and pid == person.person_id
            if joint == j:
                own += 1
                assert a.depth[v, u] == pytest.approx(person.joints_3d[j, 2], abs=1e-3)
    assert own >= 0.8 * sum(p.visible.sum() for p in a.truth.people)
    # 30 fps stamps, exact
    assert scene.frame(30).stamp_ns - scene.frame(0).stamp_ns == 1_000_000_000


def test_the_perfect_network_answers_the_authors_conventions_in_any_crop():
    scene = make_scene("walk_towards", duration_s=1.0)
    rendered = render_frame(scene, scene.frame(10))
    person = rendered.truth.people[0]
    network = PerfectNetwork()
    network.show(rendered.truth)
    windows = [crop_window(person.box), crop_window(person.box, margin=2.2)]
    poses, features = network.run_frames(warp_crops(rendered.rgb, windows))
    for pose, window in zip(poses, windows, strict=True):
        expected = (person.joints_2d + 0.5 - (window.left, window.top)) / window.size
        assert np.abs(pose[:, :2] - expected).max() * window.size < 1.0  # under a pixel of the image
        assert np.all(pose[:, 3] == 1.0)
        relative = person.joints_3d[:, 2] - person.joints_3d[J["pelvis"], 2]
        extent = max(np.ptp(person.joints_2d[:, 0]), np.ptp(person.joints_2d[:, 1]))
        scale = min(max(window.size / (1.5 * extent), 0.7), 1.3)
        assert pose[:, 2] == pytest.approx(0.5 + relative / (2 * scale), abs=1e-3)  # the fitted scale
    assert features.shape == (2, 11_928)


@pytest.mark.parametrize("crop_source", ["detector", "pose"])
def test_with_a_perfect_network_and_detector_the_skeletons_are_exact(crop_source):
    scores = score_run(
        run_scene(make_scene("walk_towards", duration_s=3.0), PipelineConfig(crop_source=crop_source))
    )
    assert scores.error_2d_px < 0.5 and scores.error_2d_p95_px < 1.0
    assert scores.error_3d_mm < 5.0 and scores.error_3d_p95_mm < 10.0  # with the depth image
    assert scores.recall == 1.0 and scores.precision == 1.0 and scores.duplicates == 0
    assert scores.id_switches == 0 and scores.clips_one_person == 1.0


def test_the_size_prior_is_exact_for_the_person_it_assumes_and_off_by_their_height_otherwise():
    exact = score_run(run_scene(make_scene("sit_stand", duration_s=2.0, height_m=1.70), use_depth=False))
    taller = score_run(run_scene(make_scene("sit_stand", duration_s=2.0, height_m=1.87), use_depth=False))
    assert exact.error_3d_mm < 15.0
    assert 250.0 < taller.error_3d_mm < 500.0  # 10 % taller reads 10 % nearer: ~0.4 m at 4 m


@pytest.mark.parametrize("crop_source", ["detector", "pose"])
def test_two_people_crossing_keep_their_identities_and_their_clips(crop_source):
    scores = score_run(run_scene(make_scene("crossing"), PipelineConfig(crop_source=crop_source)))
    assert scores.id_switches == 0 and scores.duplicates == 0
    assert scores.clips_scored > 0 and scores.clips_one_person == 1.0
    assert scores.recall >= 0.98


def test_pose_driven_crops_with_a_loose_detector_never_double_a_person():
    # Before (issue 22, defect 2): a detection overlapping a pose-driven box with IoU under 0.4 started
    # a new track and pose boxes were never suppressed: up to 8 skeletons of one person.
    run = run_scene(
        make_scene("street", duration_s=3.0),
        PipelineConfig(crop_source="pose"),
        detector=TruthDetector(box_scale=1.6),
    )
    scores = score_run(run)
    assert scores.duplicates == 0
    assert scores.precision == 1.0 and scores.recall >= 0.9


def test_pose_driven_crops_call_the_detector_once_in_n_frames_on_steady_tracks():
    scene = make_scene("walk_across", duration_s=3.0)
    pose = score_run(run_scene(scene, PipelineConfig(crop_source="pose", detect_every_n_frames=10)))
    every = score_run(run_scene(scene, PipelineConfig()))
    assert pose.detector_calls_per_frame <= 0.1 + 1e-9 and every.detector_calls_per_frame == 1.0
    assert pose.recall >= every.recall


def test_a_network_that_loses_its_confidence_sends_pose_crops_back_to_the_detector():
    run = run_scene(
        make_scene("walk_towards", duration_s=2.0),
        PipelineConfig(crop_source="pose"),
        network=PerfectNetwork(confidence=0.2),  # under pose_box_min_confidence: no pose box
    )
    assert score_run(run).detector_calls_per_frame == 1.0


def test_missed_joints_do_not_vote_for_the_root_depth():
    run = run_scene(
        make_scene("walk_towards", duration_s=3.0),
        PipelineConfig(crop_source="pose"),
        network=PerfectNetwork(missed_joint_rate=0.2),
    )
    scores = score_run(run)
    assert scores.error_2d_px < 0.5  # the joints it does give are exact
    assert scores.error_3d_mm < 30.0  # a missed torso joint's pixels once voted for any depth (~140 mm)


@pytest.mark.parametrize("drop", [0.25, 0.5])
def test_a_live_stream_dropping_frames_keeps_its_clips_and_their_span(drop):
    # Before (issue 22, defect 1): the measured rate flipped, each flip restarted every clip.
    scene = make_scene("walk_across", duration_s=6.0)
    full = score_run(run_scene(scene, PipelineConfig()))
    lossy = score_run(run_scene(scene, PipelineConfig(), drop_rate=drop, seed=1))
    assert lossy.clips_scored >= 0.9 * full.clips_scored
    assert lossy.clips_authors_span == 1.0
    assert full.clip_span_s == pytest.approx(authors_clip_span_s("ntu60", 8), abs=0.02)


def test_actions_are_the_scripted_ones_with_the_authors_latency():
    scores = score_run(run_scene(make_scene("sit_stand")))
    assert scores.clips_one_person == 1.0 and scores.clips_authors_span == 1.0
    assert scores.action_accuracy >= 0.5  # labels lag a change by about a clip
    assert 0.5 < scores.action_latency_s < 2.0  # half a 1.87 s clip to win the mean of 3 clips
    penn = score_run(run_scene(make_scene("jump_wave", duration_s=3.0), model="penn_multitask"))
    assert np.isnan(penn.error_3d_mm) and penn.error_2d_px < 0.5
    assert penn.clip_span_s == pytest.approx(authors_clip_span_s("penn_action", 8), abs=0.02)


def test_a_clip_mixing_two_people_is_recorded_as_such():
    scene = make_scene("jump_wave", duration_s=1.0)
    network = PerfectNetwork(get_preset("ntu_multitask"))
    features = []
    for index in range(8):
        rendered = render_frame(scene, scene.frame(index))
        network.show(rendered.truth)
        person = rendered.truth.people[index % 2]  # alternate people: a tracker that mixed them
        _, f = network.run_frames(warp_crops(rendered.rgb, [crop_window(person.box)]))
        features.append(f[0])
    network.run_actions(np.stack(features)[None])
    (clip,) = network.clips
    assert not clip.one_person and sorted(set(clip.person_ids)) == [1, 2]


def test_a_scene_cut_starts_new_tracks_without_identity_switches():
    scores = score_run(run_scene(make_scene("cut")))
    assert scores.id_switches == 0 and scores.duplicates == 0 and scores.recall == 1.0


@pytest.mark.slow
def test_the_world_bench_runs_quick_and_its_last_line_holds_the_pose_driven_figures():
    bench = Path(__file__).resolve().parents[1] / "bench" / "bench_world.py"
    done = subprocess.run(
        [sys.executable, str(bench), "--quick"], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    last = dict(item.split("=") for item in done.stdout.strip().splitlines()[-1].split())
    assert set(last) == {"duplicates", "id_switches", "recall", "detector_calls_per_frame"}
    assert int(last["duplicates"]) == 0 and int(last["id_switches"]) == 0
    assert float(last["recall"]) >= 0.98 and float(last["detector_calls_per_frame"]) <= 0.3
