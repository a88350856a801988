"""Pipeline bookkeeping and geometry with a test engine that reads synthetic skeletons off the crops.

The scene draws every joint of every person as a small Gaussian blob whose green/red ratio names the
joint. The test engine finds those blobs in each crop (so it only sees what a network would see),
returns their crop-normalised positions and the known relative depths, and records its calls.
"""

import math
from dataclasses import dataclass, field

import numpy as np
import pytest
from engine_doubles import NTU, PENN, feature_size, packed_features

from deephar_ros.model.config import SPNetConfig
from deephar_ros.model.joints import PA16J2D, PA17J3D
from deephar_ros.perception.action_buffer import authors_clip_step
from deephar_ros.perception.camera import AUTHORS_TRAINING_SCALES, MEAN_TORSO_LENGTH_M, CameraIntrinsics
from deephar_ros.perception.clip_window import clip_window, feature_layout
from deephar_ros.perception.crops import AUTHORS_CROP_MARGIN, crop_window
from deephar_ros.perception.detection import FullFrameDetector, GivenBoxesDetector
from deephar_ros.perception.pipeline import STAGES, Pipeline, PipelineConfig
from deephar_ros.perception.results import DEPTH_FROM_IMAGE, DEPTH_FROM_SIZE, Box

WIDTH, HEIGHT = 640, 480
INTRINSICS = CameraIntrinsics(fx=500.0, fy=500.0, cx=319.5, cy=239.5, width=WIDTH, height=HEIGHT)
LEAN = 0.12


def template_skeleton():
    """pa17j3d joints relative to the pelvis (metres); torso exactly the mean adult torso."""
    shoulder_y = -math.sqrt(MEAN_TORSO_LENGTH_M**2 - LEAN**2)
    joints = np.zeros((17, 3))
    layout = {
        1: (0.0, shoulder_y, -LEAN),
        2: (0.0, shoulder_y - 0.12, -LEAN),
        3: (0.0, shoulder_y - 0.32, -LEAN),
        4: (-0.2, shoulder_y, -LEAN),
        5: (0.2, shoulder_y, -LEAN),
        6: (-0.3, shoulder_y + 0.25, -0.05),
        7: (0.3, shoulder_y + 0.25, -0.08),
        8: (-0.36, 0.05, 0.05),
        9: (0.36, 0.05, 0.02),
        10: (-0.13, 0.0, 0.0),
        11: (0.13, 0.0, 0.0),
        12: (-0.15, 0.45, 0.03),
        13: (0.15, 0.45, 0.0),
        14: (-0.16, 0.88, 0.06),
        15: (0.16, 0.88, 0.02),
        16: (0.0, shoulder_y / 2, -LEAN / 2),
    }
    for j, xyz in layout.items():
        joints[j] = xyz
    return joints


def joint_tint(j):
    return 0.05 + 0.055 * j  # green / red ratio of joint j's blob


def render(people_3d, sigma=1.3):
    """RGB image and aligned depth (metres) of people given as (J, 3) camera-frame joints."""
    image = np.zeros((HEIGHT, WIDTH, 3), np.float64)
    depth = np.full((HEIGHT, WIDTH), np.nan, np.float32)
    cols, rows = np.meshgrid(np.arange(WIDTH), np.arange(HEIGHT))
    for joints in people_3d:
        pixels = joints[:, :2] / joints[:, 2:3] * [INTRINSICS.fx, INTRINSICS.fy] + [
            INTRINSICS.cx,
            INTRINSICS.cy,
        ]
        for j, (u, v) in enumerate(pixels):
            blob = 255 * np.exp(-((cols - u) ** 2 + (rows - v) ** 2) / (2 * sigma**2))
            image[..., 0] += blob
            image[..., 1] += blob * joint_tint(j)
            if j in PA17J3D.torso:
                r, c = round(v), round(u)
                depth[r - 3 : r + 4, c - 3 : c + 4] = joints[j, 2]
    return np.clip(np.round(image), 0, 255).astype(np.uint8), depth


def place(root):
    return template_skeleton() + np.asarray(root)


def true_pixels(joints):
    return joints[:, :2] / joints[:, 2:3] * [INTRINSICS.fx, INTRINSICS.fy] + [INTRINSICS.cx, INTRINSICS.cy]


def box_of(joints, pad=10.0):
    pixels = true_pixels(joints)
    return Box(*(pixels.min(axis=0) - pad), *(pixels.max(axis=0) + pad), 0.9)


@dataclass
class BlobEngine:
    """Stands in for the network: finds the tinted joint blobs in each crop.

    Its z is read as the authors' network learnt it: over +-1 m times the crop's scale against their
    window (1.5 x the joints' square extent), as the training crops and depth ranges scaled together.
    """

    config: SPNetConfig = NTU
    backend: str = "test"
    device: str = "cpu"
    frame_batches: list = field(default_factory=list)
    action_batches: list = field(default_factory=list)

    def run_frames(self, crops):
        self.frame_batches.append(crops.copy())
        num_joints, dim = self.config.num_joints, self.config.pose_dim
        poses = np.zeros((len(crops), num_joints, dim + 1), np.float32)
        rel_z = template_skeleton()[:, 2]
        rows, cols = np.indices(crops.shape[1:3])
        for b, crop in enumerate(crops):
            red = crop[..., 0].astype(np.float64)
            ratio = np.where(red > 40, crop[..., 1] / np.maximum(red, 1), -1)
            for j in range(num_joints):
                near = red * (np.abs(ratio - joint_tint(j)) < 0.02)
                if near.sum() == 0:
                    continue
                x = (near * cols).sum() / near.sum()
                y = (near * rows).sum() / near.sum()
                poses[b, j, :2] = (np.array([x, y]) + 0.5) / crops.shape[2]
                poses[b, j, dim] = 0.9
            if dim == 3:
                found = poses[b, :, dim] > 0
                extent = np.ptp(poses[b, found, :2], axis=0).max() if found.sum() > 1 else 1 / 1.5
                scale = np.clip(1 / (1.5 * extent), *AUTHORS_TRAINING_SCALES)
                poses[b, :, 2] = 0.5 + rel_z / (2.0 * scale)
        return poses, packed_features(poses, crops.reshape(len(crops), -1).mean(axis=1), self.config)

    def run_actions(self, features):
        self.action_batches.append(features.copy())
        scores = np.full((len(features), 60), 0.1 / 59, np.float32)
        scores[:, 22] = 0.9
        return scores


def two_people_frame(shift=0.0):
    people = [place((-1.0 + shift, 0.0, 3.0)), place((1.0 - shift, 0.1, 3.6))]
    image, depth = render(people)
    return people, image, depth


def test_two_people_one_batch_pixels_and_metres_with_depth():
    people, image, depth = two_people_frame()
    engine = BlobEngine()
    pipeline = Pipeline(engine, PipelineConfig(), detector=GivenBoxesDetector([box_of(p) for p in people]))
    result = pipeline.process(image, 12_500_000_000, intrinsics=INTRINSICS, depth=depth)
    assert len(engine.frame_batches) == 1 and engine.frame_batches[0].shape == (2, 256, 256, 3)
    assert (result.stamp_ns, result.width, result.height) == (12_500_000_000, WIDTH, HEIGHT)
    assert list(result.timings_ms) == list(STAGES)
    assert sorted(p.track_id for p in result.people) == [1, 2]
    for estimate, truth in zip(result.people, people, strict=True):
        assert estimate.joint_names == list(PA17J3D.joint_names)
        assert np.max(np.linalg.norm(estimate.joints_2d - true_pixels(truth), axis=1)) < 0.5
        assert estimate.depth_source == DEPTH_FROM_IMAGE
        assert np.max(np.linalg.norm(estimate.joints_3d - truth, axis=1)) < 0.003
        np.testing.assert_allclose(estimate.confidences, 0.9, atol=1e-6)


def test_relative_depth_is_read_over_the_crops_scale_against_the_authors_window():
    """A loose detector box frames the person smaller than the authors' window: z spans more depth."""
    person = place((0.0, 0.0, 3.0))
    image, depth = render([person])
    errors = {}
    for from_window in (True, False):
        pipeline = Pipeline(BlobEngine(), PipelineConfig(depth_scale_from_window=from_window))
        result = pipeline.process(image, 0, INTRINSICS, depth, boxes=[box_of(person, pad=45.0)])
        errors[from_window] = np.max(np.linalg.norm(result.people[0].joints_3d - person, axis=1))
    assert errors[True] < 0.003
    assert errors[False] > 0.02  # a fixed 1 m scale reads the body's depth span short


def test_depth_from_person_size_without_a_depth_image():
    people, image, _ = two_people_frame()
    pipeline = Pipeline(BlobEngine(), PipelineConfig())
    result = pipeline.process(image, 0, intrinsics=INTRINSICS, boxes=[box_of(p) for p in people])
    for estimate, truth in zip(result.people, people, strict=True):
        assert estimate.depth_source == DEPTH_FROM_SIZE
        assert np.max(np.linalg.norm(estimate.joints_3d - truth, axis=1)) < 0.015


def sit_down_clip_inputs(action_window: str) -> tuple[np.ndarray, list[np.ndarray]]:
    """The first clip's action input of one person sitting down (8 frames), and their true joints."""
    engine = BlobEngine()
    pipeline = Pipeline(engine, PipelineConfig(clip_stride=1, action_window=action_window))
    people = []
    for k in range(8):
        person = place((0.0, 0.05 * k, 3.0 + 0.04 * k))  # down the image and away
        people.append(person)
        image, depth = render([person])
        pipeline.process(image, k * 33_000_000, INTRINSICS, depth, boxes=[box_of(person, pad=30.0)])
    (batch,) = engine.action_batches
    return batch[0], people


def test_the_action_input_moves_as_in_the_authors_one_crop_per_clip():
    clip_input, people = sit_down_clip_inputs("clip")
    per_frame_input, _ = sit_down_clip_inputs("frame")
    block = feature_layout(NTU)[0].pose
    poses = clip_input[:, block].reshape(8, 17, 4)
    per_frame = per_frame_input[:, block].reshape(8, 17, 4)
    # the authors' clip crop: the union of 1.5 x each frame's square joint extent
    pixels = [true_pixels(person) for person in people]
    windows = [crop_window(Box(*p.min(axis=0), *p.max(axis=0), 1.0)) for p in pixels]
    clip = clip_window(windows)
    roots = np.array([person[0, 2] for person in people])
    expected_xy = np.stack([clip.image_to_clip(p) for p in pixels])
    expected_z = np.stack([(person[:, 2] - roots.mean()) / 2.0 + 0.5 for person in people])
    head = PA17J3D.index("head_top")
    assert np.ptp(per_frame[:, head, 1]) < 0.01  # each frame's own crop follows the person: no motion
    assert np.ptp(expected_xy[:, head, 1]) > 0.1
    np.testing.assert_allclose(poses[..., :2], expected_xy, atol=0.004)
    np.testing.assert_allclose(poses[..., 2], expected_z, atol=0.003)
    np.testing.assert_array_equal(poses[..., 3], per_frame[..., 3])  # visibility as the network gave it


def test_ids_stay_and_actions_run_in_one_batch_at_the_stride():
    engine = BlobEngine()
    config = PipelineConfig(clip_stride=2, average_clips=2)
    pipeline = Pipeline(engine, config)
    results = []
    for k in range(17):
        people, image, _ = two_people_frame(shift=0.01 * k)
        results.append(
            pipeline.process(image, k * 100_000_001, INTRINSICS, boxes=[box_of(p) for p in people])
        )
    assert all(sorted(p.track_id for p in r.people) == [1, 2] for r in results)
    assert [len(batch) for batch in engine.action_batches] == [2, 2]  # frames 14 and 16, both tracks at once
    assert engine.action_batches[0].shape == (2, 8, feature_size(NTU))
    assert all(p.action is None for r in results[:14] for p in r.people)
    action = results[-1].people[0].action
    assert action.top_label == "hand waving" and action.label_set == "ntu60"
    # The stamps of the clip's first and last sampled frames, to the nanosecond (frames 2 and 16).
    assert (action.clip_start_ns, action.clip_end_ns) == (2 * 100_000_001, 16 * 100_000_001)
    assert action.clips_averaged == 2


def test_a_measured_frame_rate_neither_changes_the_clip_sampling_nor_restarts_clips():
    # Before: a new rate estimate rescaled the stride and emptied every clip (issue 22, defect 1).
    engine = BlobEngine()
    pipeline = Pipeline(engine, PipelineConfig())
    assert pipeline.actions.stride == 8 and pipeline.actions.spacing_ns == 266_666_667  # 8 / 30 s
    people, image, _ = two_people_frame()
    pipeline.process(image, 0, INTRINSICS, boxes=[box_of(p) for p in people])
    tracks = dict(pipeline.actions.tracks)
    pipeline.set_frame_rate(15.0)
    assert pipeline.actions.tracks == tracks and pipeline.actions.spacing_ns == 266_666_667
    fixed = Pipeline(engine, PipelineConfig(clip_stride=3))
    assert fixed.actions.stride == 3 and fixed.actions.spacing_ns is None  # every 3rd frame


def test_flip_tta_sends_mirrored_crops_in_the_same_batch():
    people, image, _ = two_people_frame()
    engine = BlobEngine()
    pipeline = Pipeline(engine, PipelineConfig(flip_tta=True))
    pipeline.process(image, 0, INTRINSICS, boxes=[box_of(p) for p in people])
    (batch,) = engine.frame_batches
    assert batch.shape[0] == 4
    np.testing.assert_array_equal(batch[2:], batch[:2, :, ::-1])


def test_no_people_means_no_network_call():
    engine = BlobEngine()
    result = Pipeline(engine, PipelineConfig()).process(np.zeros((120, 160, 3), np.uint8), 0, boxes=[])
    assert result.people == [] and engine.frame_batches == []
    assert list(result.timings_ms) == list(STAGES)


def test_retired_ids_after_timeout_and_when_time_goes_backwards():
    people, image, _ = two_people_frame()
    boxes = [box_of(p) for p in people]
    pipeline = Pipeline(BlobEngine(), PipelineConfig(track_timeout_s=0.5))
    first = pipeline.process(image, 1_000_000_000, INTRINSICS, boxes=boxes)
    assert pipeline.process(image, 1_300_000_000, INTRINSICS, boxes=boxes[:1]).retired_track_ids == []
    later = pipeline.process(image, 1_900_000_000, INTRINSICS, boxes=boxes[:1])
    assert later.retired_track_ids == [first.people[1].track_id]
    assert not later.time_reset
    back = pipeline.process(image, 500_000_000, INTRINSICS, boxes=boxes)
    assert back.time_reset and back.retired_track_ids == [first.people[0].track_id]
    assert {p.track_id for p in back.people}.isdisjoint({1, 2})
    pipeline.reset()
    assert pipeline.process(image, 600_000_000, INTRINSICS, boxes=boxes).retired_track_ids == []


def test_two_dimensional_network_gives_nan_metres():
    people, image, _ = two_people_frame()
    engine = BlobEngine(config=PENN)
    result = Pipeline(engine, PipelineConfig()).process(image, 0, INTRINSICS, boxes=[box_of(people[0])])
    (person,) = result.people
    assert person.joint_names == list(PA16J2D.joint_names)
    assert np.isnan(person.joints_3d).all() and person.joints_3d.shape == (16, 3)
    assert np.max(np.linalg.norm(person.joints_2d - true_pixels(people[0])[:16], axis=1)) < 0.5


def test_smoothing_steadies_jittering_joints():
    people, image, _ = two_people_frame()
    rng = np.random.default_rng(0)
    raw, smooth = [], []
    for config, out in ((PipelineConfig(), raw), (PipelineConfig(smoothing=True), smooth)):
        pipeline = Pipeline(BlobEngine(), config)
        for k in range(12):
            jitter = rng.normal(0, 2.0, 2)
            box = box_of(people[0])
            box = Box(box.x0 + jitter[0], box.y0 + jitter[1], box.x1 + jitter[0], box.y1 + jitter[1], 0.9)
            out.append(pipeline.process(image, k * 33_333_333, INTRINSICS, boxes=[box]).people[0].joints_2d)
    assert np.std(np.array(smooth)[4:], axis=0).mean() <= np.std(np.array(raw)[4:], axis=0).mean()


def test_gray_and_rgba_frames_are_converted():
    people, image, _ = two_people_frame()
    boxes = [box_of(people[0])]
    gray = image[..., 0]
    for variant in (gray, gray[..., None], np.dstack([np.repeat(gray[..., None], 3, axis=2), gray])):
        engine = BlobEngine()
        Pipeline(engine, PipelineConfig()).process(variant, 0, boxes=boxes)
        crop = engine.frame_batches[0][0]
        np.testing.assert_array_equal(crop[..., 0], crop[..., 1])


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (np.zeros((0, 0, 3), np.uint8), "empty"),
        (np.zeros((48, 64, 3), np.float32), "uint8"),
        (np.zeros((48, 64, 2), np.uint8), "shape"),
        (np.zeros((2, 48, 64, 3), np.uint8), "shape"),
        (np.zeros((1, 9000, 3), np.uint8), "larger than"),
        ([[0, 0, 0]], "numpy array"),
    ],
)
def test_bad_frames_are_refused_with_a_clear_message(frame, message):
    pipeline = Pipeline(BlobEngine(), PipelineConfig(), detector=FullFrameDetector())
    with pytest.raises(ValueError, match=message):
        pipeline.process(frame, 0)


def test_bad_companions_are_refused():
    pipeline = Pipeline(BlobEngine(), PipelineConfig(), detector=FullFrameDetector())
    image = np.zeros((48, 64, 3), np.uint8)
    for stamp in (float("nan"), 0.5, "1", True):  # seconds as a float are refused, not guessed
        with pytest.raises(ValueError, match="stamp_ns must be an integer number of nanoseconds"):
            pipeline.process(image, stamp)
    pipeline.process(image, np.int64(5))  # numpy integers are integers
    with pytest.raises(ValueError, match="does not match"):
        pipeline.process(image, 0, depth=np.zeros((10, 10), np.float32))
    with pytest.raises(ValueError, match="16UC1"):
        pipeline.process(image, 0, depth=np.zeros((48, 64), np.uint16))
    with pytest.raises(ValueError, match="intrinsics are for"):
        pipeline.process(image, 0, intrinsics=INTRINSICS)
    with pytest.raises(ValueError, match="non-finite"):
        pipeline.process(image, 0, boxes=[Box(0, 0, float("inf"), 10)])


def test_tiny_frames_through_the_default_detector_find_nobody():
    engine = BlobEngine()
    pipeline = Pipeline(engine, PipelineConfig())
    for shape in ((1, 1, 3), (5, 7), (40, 30, 4)):
        assert pipeline.process(np.zeros(shape, np.uint8), 0).people == []
    assert engine.frame_batches == []


class CountingDetector(GivenBoxesDetector):
    """Given boxes, counting its calls: a detector whose cost the pose-driven mode must save."""

    def __init__(self, boxes: list[Box]) -> None:
        super().__init__(boxes)
        self.calls = 0

    def detect(self, image: np.ndarray) -> list[Box]:
        self.calls += 1
        return super().detect(image)


def test_pose_driven_crops_follow_the_joints_and_call_the_detector_every_n_frames():
    engine = BlobEngine()
    detector = CountingDetector([])
    config = PipelineConfig(crop_source="pose", detect_every_n_frames=5, track_timeout_s=10.0)
    pipeline = Pipeline(engine, config, detector=detector)
    results = []
    for k in range(12):
        # Two people walking to the right, far enough apart that no crop holds the other's joints
        # (the blob-finding stand-in for the network would mix them up).
        people = [place((-1.3 + 0.01 * k, 0.0, 3.0)), place((1.3 + 0.01 * k, 0.1, 3.6))]
        image, _ = render(people)
        detector.boxes = [box_of(p, pad=40.0) for p in people]  # loose boxes, as HOG gives
        results.append(pipeline.process(image, k * 33_333_333, INTRINSICS))
    assert detector.calls == 3  # frames 0, 5 and 10: the others crop from the tracks' joints
    assert all(sorted(p.track_id for p in r.people) == [1, 2] for r in results)
    for estimate, truth in zip(results[-1].people, people, strict=True):
        assert np.max(np.linalg.norm(estimate.joints_2d - true_pixels(truth), axis=1)) < 0.5
        # The crop is the authors' window: 1.5 x the square extent of the joints (not of a detector box).
        extent = estimate.joints_2d.max(axis=0) - estimate.joints_2d.min(axis=0)
        window = crop_window(estimate.box, AUTHORS_CROP_MARGIN)
        assert window.size == pytest.approx(1.5 * extent.max(), rel=0.05)
    # After the first frame the crops are tighter than the detector's: the people fill more of them.
    first_crop_box = crop_window(results[0].people[0].box).size
    assert crop_window(results[1].people[0].box).size < 0.85 * first_crop_box


def test_a_track_whose_joints_lose_confidence_calls_the_detector_on_the_next_frame():
    engine = BlobEngine()
    people, image, _ = two_people_frame()
    detector = CountingDetector([box_of(p) for p in people])
    pipeline = Pipeline(engine, PipelineConfig(crop_source="pose", detect_every_n_frames=100), detector)
    pipeline.process(image, 0, INTRINSICS)
    pipeline.process(image, 33_333_333, INTRINSICS)
    assert detector.calls == 1 and len(pipeline.pose_boxes) == 2
    hidden = image.copy()
    hidden[:, : WIDTH // 2] = 0  # the left person leaves the picture: no confident joints
    result = pipeline.process(hidden, 66_666_666, INTRINSICS)
    assert len(pipeline.pose_boxes) == 1 and detector.calls == 1
    pipeline.process(image, 99_999_999, INTRINSICS)
    assert detector.calls == 2  # called back at once, not after 100 frames
    # the lost one was cropped from its last joints, saw nobody there and is not shown (no ghost)
    assert len(result.people) == 1


def test_detector_mode_calls_the_detector_on_every_frame_and_bad_settings_are_refused():
    people, image, _ = two_people_frame()
    detector = CountingDetector([box_of(p) for p in people])
    pipeline = Pipeline(BlobEngine(), PipelineConfig(), detector)
    for k in range(3):
        pipeline.process(image, k, INTRINSICS)
    assert detector.calls == 3 and pipeline.pose_boxes == {}
    with pytest.raises(ValueError, match="crop_source"):
        Pipeline(BlobEngine(), PipelineConfig(crop_source="guess"))
    with pytest.raises(ValueError, match="detect_every_n_frames"):
        Pipeline(BlobEngine(), PipelineConfig(crop_source="pose", detect_every_n_frames=0))


def test_the_authors_action_scoring_with_the_mirrored_pass():
    engine = BlobEngine()
    config = PipelineConfig(clip_stride=1, action_scoring="authors", mirrored_action_pass=True)
    pipeline = Pipeline(engine, config)
    assert pipeline.actions.run_every_n_frames == authors_clip_step("ntu60", 8) == 14
    results = []
    for k in range(8 + 14):
        people, image, _ = two_people_frame(shift=0.01 * k)
        results.append(pipeline.process(image, k * 33_333_333, INTRINSICS, boxes=[box_of(p) for p in people]))
    # Every crop went through the network twice (as is and mirrored), in one batch per frame.
    assert all(len(batch) == 4 for batch in engine.frame_batches)
    mirrored_crops = engine.frame_batches[-1][2:]
    np.testing.assert_array_equal(mirrored_crops, engine.frame_batches[-1][:2, :, ::-1])
    # A clip when the ring first filled (frame 7), the next one 14 frames later: both passes of
    # both tracks in one action batch each time.
    assert [len(batch) for batch in engine.action_batches] == [4, 4]
    action = results[-1].people[0].action
    assert action.clips_averaged == 2  # two clips, each with both passes, in the product
    assert action.top_label == "hand waving"
    pipeline.set_frame_rate(15.0)
    assert pipeline.actions.run_every_n_frames == authors_clip_step("ntu60", 8, 15.0) == 7
    with pytest.raises(ValueError, match="action_scoring"):
        Pipeline(BlobEngine(), PipelineConfig(action_scoring="vote"))
