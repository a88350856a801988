"""Person boxes read from vision_msgs/Detection2DArray (detector: topic), with stand-in messages:
vision_msgs is not on PyPI, and the reader goes by field names of both of its layouts."""

from types import SimpleNamespace as Msg

import pytest

from deephar_ros.perception.results import Box
from deephar_ros.ros.detection_input import boxes_from_detections
from deephar_ros.ros.image_conversion import ImageConversionError


def detection(cx, cy, w, h, *hypotheses, new_layout=True):
    centre = Msg(position=Msg(x=cx, y=cy), theta=0.0) if new_layout else Msg(x=cx, y=cy, theta=0.0)
    results = [Msg(hypothesis=Msg(class_id=c, score=s), pose=None) for c, s in hypotheses]
    return Msg(bbox=Msg(center=centre, size_x=w, size_y=h), results=results, id="")


def test_person_detections_become_boxes_with_their_person_score():
    message = Msg(
        detections=[
            detection(100, 200, 40, 120, ("person", 0.9)),
            detection(300, 200, 50, 50, ("dog", 0.95)),  # not a person
            detection(500, 220, 60, 160, ("chair", 0.7), ("person", 0.4), ("person", 0.6)),
            detection(50, 60, 20, 40, ("0", 0.8), new_layout=False),  # COCO index, older layout
        ]
    )
    boxes = boxes_from_detections(message, ["person", "0"])
    assert boxes == [
        Box(80, 140, 120, 260, 0.9),
        Box(470, 140, 530, 300, 0.6),
        Box(40, 40, 60, 80, 0.8),
    ]
    assert boxes_from_detections(message, ["1"]) == []


@pytest.mark.parametrize(("cx", "w"), [(float("nan"), 10.0), (10.0, float("inf")), (10.0, 0.0), (10.0, -4.0)])
def test_broken_boxes_are_skipped(cx, w):
    message = Msg(detections=[detection(cx, 50, w, 30, ("person", 0.9))])
    assert boxes_from_detections(message, ["person"]) == []


@pytest.mark.parametrize("score", [-5.0, 1e30, float("nan"), 1.5])
def test_a_person_score_that_is_no_probability_refuses_the_message(score):
    message = Msg(
        detections=[detection(100, 200, 40, 120, ("person", 0.9)), detection(10, 20, 4, 8, ("0", score))]
    )
    with pytest.raises(ImageConversionError, match=r"scores a person .*outside \[0, 1\]"):
        boxes_from_detections(message, ["person", "0"])
    # the same score on a class that is not a person is none of our business
    assert boxes_from_detections(message, ["person"]) == [Box(80, 140, 120, 260, 0.9)]
