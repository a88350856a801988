"""The guard on the network's outputs (issue 18): a person of NaN, infinite or absurd joints is dropped
and counted, the rest of the frame is kept; drawing skips points that are no numbers."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pytest
from test_pipeline import INTRINSICS, BlobEngine, box_of, two_people_frame

from deephar_ros.model.joints import PA17J3D
from deephar_ros.offline.drawing import draw_result
from deephar_ros.perception.detection import GivenBoxesDetector
from deephar_ros.perception.finite_outputs import MAX_CROP_UNITS, keep_finite_people
from deephar_ros.perception.pipeline import Pipeline, PipelineConfig
from deephar_ros.perception.results import Box, FrameResult, PersonEstimate


@dataclass
class PoisonedEngine(BlobEngine):
    """BlobEngine whose output for crop `victim` gets `value` written over `where` (a pose index)."""

    victim: int = 1
    value: float = math.nan
    where: tuple = (3, 0)
    poison_features: bool = False
    calls: list = field(default_factory=list)

    def run_frames(self, crops):
        poses, features = super().run_frames(crops)
        if self.poison_features:
            features[self.victim, 5] = self.value
        else:
            poses[(self.victim, *self.where)] = self.value
        return poses, features


@pytest.mark.parametrize(
    ("value", "where", "poison_features"),
    [
        (math.nan, (3, 0), False),  # a NaN joint of finite confidence: failed the whole frame at 2f5c218
        (math.inf, (5, 1), False),
        (math.nan, (3, 3), False),  # a NaN confidence
        (1e30, (0, 2), False),  # finite, absurd: no soft-argmax gives it
        (math.nan, None, True),  # the action features only
    ],
)
def test_a_person_of_non_finite_outputs_is_dropped_and_the_rest_of_the_frame_kept(
    value, where, poison_features
):
    people, image, depth = two_people_frame()
    engine = PoisonedEngine(value=value, where=where or (0, 0), poison_features=poison_features)
    boxes = [box_of(p) for p in people]
    pipeline = Pipeline(engine, PipelineConfig(), detector=GivenBoxesDetector(boxes))
    result = pipeline.process(image, 12_500_000_000, intrinsics=INTRINSICS, depth=depth)
    assert result.non_finite_people == 1
    assert len(result.people) == 1 and result.people[0].box == boxes[0]
    person = result.people[0]
    assert np.all(np.isfinite(person.joints_2d)) and np.all(np.isfinite(person.joints_3d))
    later = pipeline.process(image, 12_600_000_000, intrinsics=INTRINSICS, depth=depth)
    assert later.non_finite_people == 1 and later.people[0].track_id == person.track_id


def test_keep_finite_people_keeps_order_and_counts():
    boxes = [Box(0, 0, 10, 10), Box(5, 5, 20, 20), Box(1, 1, 3, 3)]
    poses = np.full((3, 4, 4), 0.5, np.float32)
    poses[1, 2, 1] = -np.inf
    features = np.ones((3, 6), np.float32)
    mirrored = np.ones((3, 6), np.float32)
    mirrored[2, 0] = 2 * MAX_CROP_UNITS  # features have no bound, only finiteness
    kept = keep_finite_people(boxes, ["a", "b", "c"], poses, features, mirrored)
    assert kept[0] == [boxes[0], boxes[2]] and kept[1] == ["a", "c"] and kept[-1] == 1
    assert kept[2].shape == (2, 4, 4) and kept[3].shape == (2, 6) and kept[4].shape == (2, 6)
    empty = keep_finite_people([], [], np.zeros((0, 4, 4)), np.zeros((0, 0)), None)
    assert empty[-1] == 0


def test_drawing_skips_points_and_boxes_that_are_no_numbers():
    joints = np.tile([[30.0, 40.0]], (PA17J3D.num_joints, 1))
    joints[2] = [math.nan, 10.0]
    joints[4] = [math.inf, -math.inf]
    joints[6] = [1e30, 5.0]
    person = PersonEstimate(
        track_id=3,
        box=Box(10.0, math.nan, 60.0, 80.0),
        joint_names=list(PA17J3D.joint_names),
        joints_2d=joints,
        joints_3d=np.full((PA17J3D.num_joints, 3), math.nan),
        confidences=np.concatenate([[math.nan], np.full(PA17J3D.num_joints - 1, 0.9)]),
    )
    image = np.zeros((100, 120, 3), np.uint8)
    drawn = draw_result(image, FrameResult(0, 120, 100, [person]), PA17J3D.bones)
    assert drawn.shape == image.shape and drawn[40, 30].any()  # the finite joints are drawn
