"""Detectors: HOG finds the walkers of the sample video; the other detectors pass boxes on cleanly."""

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from deephar_ros.perception.detection import (
    FullFrameDetector,
    GivenBoxesDetector,
    HogPersonDetector,
    create_detector,
    drop_nesting_boxes,
)
from deephar_ros.perception.person_detector import clean_boxes
from deephar_ros.perception.results import Box
from deephar_ros.perception.tracking import box_iou

SAMPLE_VIDEO = Path(__file__).resolve().parents[1] / "data" / "vtest.avi"


def sample_frame(index: int) -> np.ndarray:
    if not SAMPLE_VIDEO.is_file():
        if os.environ.get("CI"):
            pytest.fail(f"{SAMPLE_VIDEO} missing in CI: scripts/fetch_sample_video.sh must run first")
        pytest.skip(f"{SAMPLE_VIDEO} absent: run scripts/fetch_sample_video.sh")
    capture = cv2.VideoCapture(str(SAMPLE_VIDEO))
    capture.set(cv2.CAP_PROP_POS_FRAMES, index)
    ok, bgr = capture.read()
    capture.release()
    assert ok, f"cannot read frame {index} of {SAMPLE_VIDEO}"
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def test_hog_finds_several_walkers_in_the_sample_video():
    boxes = HogPersonDetector().detect(sample_frame(16))
    assert 2 <= len(boxes) <= 8
    # the man walking down the middle of frame 16, checked by eye on the frame
    assert max(box_iou(b, Box(341, 173, 380, 289)) for b in boxes) > 0.5
    for box in boxes:
        assert 0.5 < box.score < 1.0
        assert 1.5 < box.height / box.width < 5.0  # upright people
    assert [b.score for b in boxes] == sorted((b.score for b in boxes), reverse=True)


def test_hog_finds_nobody_in_an_empty_scene():
    assert HogPersonDetector().detect(np.full((480, 640, 3), 127, np.uint8)) == []


def test_full_frame_and_given_boxes():
    image = np.zeros((100, 200, 3), np.uint8)
    assert FullFrameDetector().detect(image) == [Box(0.0, 0.0, 200.0, 100.0, 1.0)]
    given = GivenBoxesDetector(
        [
            Box(-10, -5, 50, 60, 0.4),
            Box(150, 20, 260, 90, 0.9),
            Box(30, 30, 30, 80, 0.95),
            Box(0, 0, 5, 5, 0.01),
        ],
        min_score=0.1,
    )
    assert given.detect(image) == [Box(150, 20, 200, 90, 0.9), Box(0, 0, 50, 60, 0.4)]
    given.max_people = 1
    assert len(given.detect(image)) == 1


def test_clean_boxes_refuses_non_finite_boxes():
    with pytest.raises(ValueError, match="non-finite"):
        clean_boxes([Box(0, 0, float("nan"), 10)], 100, 100, 0.0, 5)


def test_a_window_around_a_smaller_person_is_dropped():
    small = Box(100, 100, 130, 190, 0.7)
    around = Box(80, 20, 160, 200, 0.8)
    beside = Box(300, 100, 330, 190, 0.6)
    assert drop_nesting_boxes([around, small, beside]) == [small, beside]


def test_detectors_by_name():
    assert isinstance(create_detector("hog", 0.6, 4), HogPersonDetector)
    assert isinstance(create_detector("full-frame", 0.6, 4), FullFrameDetector)
    assert create_detector("hog", None, 4).min_score == 0.6  # None: the detector's own default
    with pytest.raises(ValueError, match="unknown detector"):
        create_detector("yolo", 0.6, 4)


@pytest.mark.parametrize(
    "shape", [(1, 1, 3), (10, 10, 3), (127, 64, 3), (128, 63, 3), (128, 64, 3), (90, 9000, 3)]
)
def test_hog_on_images_smaller_than_its_window_finds_nobody(shape):
    noise = np.random.default_rng(0).integers(0, 255, shape, dtype=np.uint8)
    assert HogPersonDetector().detect(noise) == []
