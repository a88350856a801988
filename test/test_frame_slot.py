"""RGB-D pairing by stamp without message_filters: each colour frame meets the depth frame of its own
stamp whichever arrives first, and frames that cannot be paired are counted, never paired wrongly."""

from __future__ import annotations

import pytest

from deephar_ros.ros.frame_slot import ApproximateTimePairer

PERIOD = 1 / 30  # a 30 Hz camera: stamps 33.3 ms apart
SLOP = 0.05  # the node's default depth_slop: wider than a frame period
FRAMES = 40


def stamp(frame: int) -> float:
    return 100.0 + frame * PERIOD


class Recorder:
    """Feeds a pairer and keeps every pair and given-up count it answers."""

    def __init__(self, slop: float = SLOP, queue_size: int = 5, reorder: int = 0) -> None:
        self.pairer: ApproximateTimePairer[str, str] = ApproximateTimePairer(slop, queue_size, reorder)
        self.pairs: list[tuple[str, str]] = []
        self.given_up = 0

    def colour(self, frame: int, offset: float = 0.0) -> None:
        pairs, given_up = self.pairer.add_colour(stamp(frame) + offset, f"c{frame}")
        self.given_up += given_up
        self.pairs.extend(pairs)

    def depth(self, frame: int, offset: float = 0.0) -> None:
        self.pairs.extend(self.pairer.add_depth(stamp(frame) + offset, f"d{frame}"))


def own_depth_pairs(frames: range) -> list[tuple[str, str]]:
    return [(f"c{i}", f"d{i}") for i in frames]


def test_colour_before_depth_at_30_hz_gets_its_own_depth_not_the_previous_frames():
    recorder = Recorder()
    for i in range(FRAMES):
        recorder.colour(i)  # the previous frame's depth, 33 ms away, is within slop: it must wait
        assert len(recorder.pairs) == i
        recorder.depth(i)
        assert recorder.pairs[-1] == (f"c{i}", f"d{i}")  # no added latency once its depth is in
    assert recorder.pairs == own_depth_pairs(range(FRAMES)) and recorder.given_up == 0


def test_depth_before_colour_at_30_hz_pairs_as_soon_as_the_colour_arrives():
    recorder = Recorder()
    for i in range(FRAMES):
        recorder.depth(i)
        recorder.colour(i)
        assert recorder.pairs[-1] == (f"c{i}", f"d{i}")
    assert recorder.pairs == own_depth_pairs(range(FRAMES)) and recorder.given_up == 0


@pytest.mark.parametrize("late", ["depth", "colour"])
def test_a_stream_two_frames_late_still_pairs_every_frame_with_its_own(late):
    recorder = Recorder()
    early, delayed = (
        (recorder.colour, recorder.depth) if late == "depth" else (recorder.depth, recorder.colour)
    )
    for i in range(FRAMES):
        early(i)
        if i >= 2:
            delayed(i - 2)
    delayed(FRAMES - 2)
    delayed(FRAMES - 1)
    assert recorder.pairs == own_depth_pairs(range(FRAMES)) and recorder.given_up == 0


def test_a_depth_stamped_a_little_before_its_colour_pairs_without_waiting_for_the_next():
    recorder = Recorder(slop=0.02)
    recorder.depth(0, offset=-0.005)  # a depth sensor triggered 5 ms before the colour one
    recorder.depth(1, offset=-0.005)  # (two depth frames tell how soon the next can come)
    recorder.colour(0)
    recorder.colour(1)  # nearer to d1 than d2, 33 ms after d1, can be: decided on arrival
    assert recorder.pairs == own_depth_pairs(range(2))
    for i in range(2, 10):
        recorder.colour(i)
        recorder.depth(i, offset=-0.005)  # decided on its arrival, not one frame later
        assert recorder.pairs[-1] == (f"c{i}", f"d{i}")
    assert recorder.given_up == 0


def test_without_depth_each_colour_frame_is_given_up_once_its_queue_moves_on():
    recorder = Recorder(queue_size=3)
    recorder.depth(0)
    recorder.colour(0)
    for i in range(1, 4):
        recorder.colour(i)  # waiting for depth 1..3, which never comes
    assert recorder.given_up == 0
    for i in range(4, 10):
        recorder.colour(i)
    assert recorder.pairs == [("c0", "d0")] and recorder.given_up == 6  # c1..c6 pushed out, c7..c9 wait
    recorder.depth(9)  # c7 has none within slop (d9 is 67 ms away), c8's nearest is d9 (33 ms)
    assert recorder.pairs[-2:] == [("c8", "d9"), ("c9", "d9")]
    recorder.colour(10)
    assert recorder.given_up == 7


def test_a_colour_frame_whose_depth_was_pushed_out_is_not_paired_with_another_frames():
    recorder = Recorder(queue_size=3)
    for i in range(5):  # depth 4 frames ahead of colour: d0 leaves the queue of 3 before c0 comes
        recorder.depth(i)
    recorder.colour(0)  # d1 is within slop, but it is frame 1's depth
    assert recorder.pairs == [] and recorder.given_up == 1
    recorder.colour(2)
    assert recorder.pairs == [("c2", "d2")]


def test_a_colour_frame_with_no_depth_within_slop_is_given_up():
    recorder = Recorder(slop=0.01)
    recorder.depth(0)
    recorder.colour(1)  # d0 is 33 ms away
    recorder.depth(3)  # the nearest after it is 67 ms away: c1 has none
    assert recorder.pairs == []
    recorder.colour(3)
    assert recorder.pairs == [("c3", "d3")] and recorder.given_up == 1


def test_colour_faster_than_depth_pairs_each_frame_with_the_nearest_depth_within_slop():
    recorder = Recorder()
    for i in (0, 2, 4):  # depth at 15 Hz, colour at 30 Hz
        recorder.colour(i)
        recorder.colour(i + 1)
        recorder.depth(i)
    recorder.colour(6)
    # c1 and c3 lie 33 ms from two depths: the earlier wins the tie; all answered in stamp order
    assert recorder.pairs == [("c0", "d0"), ("c1", "d0"), ("c2", "d2"), ("c3", "d2"), ("c4", "d4")]
    assert recorder.given_up == 0


@pytest.mark.parametrize("skipped", [False, True])
def test_boxes_published_out_of_order_pair_every_frame(skipped):
    """Another detector's boxes (exact stamps) for frames 2k+1 before 2k: none is lost; a frame the
    detector skipped is given up once two later frames' boxes are in."""
    recorder = Recorder(slop=0.0, reorder=1)
    for i in range(0, 20, 2):
        recorder.colour(i)
        recorder.colour(i + 1)
        recorder.depth(i + 1)
        if not (skipped and i == 10):
            recorder.depth(i)
    recorder.colour(20)
    recorder.depth(20)
    answered = [i for i in range(21) if not (skipped and i == 10)]
    assert recorder.pairs == [(f"c{i}", f"d{i}") for i in answered]
    assert recorder.given_up == int(skipped)


@pytest.mark.parametrize("colour_first", [True, False])
def test_stamps_going_back_start_a_new_timeline(colour_first):
    recorder = Recorder()
    for i in range(20, 23):
        recorder.colour(i)
        recorder.depth(i)
    for i in range(3):  # a bag loops
        first, second = (
            (recorder.colour, recorder.depth) if colour_first else (recorder.depth, recorder.colour)
        )
        first(i)
        second(i)
    assert recorder.pairs == own_depth_pairs(range(20, 23)) + own_depth_pairs(range(3))
    assert recorder.given_up == 0


def test_the_nearest_depth_within_slop_wins_in_either_order():
    pairer: ApproximateTimePairer[str, str] = ApproximateTimePairer(slop=0.02)
    assert pairer.add_depth(0.99, "d0.99") == []
    assert pairer.add_depth(1.01, "d1.01") == []
    assert pairer.add_colour(1.015, "c1.015") == ([("c1.015", "d1.01")], 0)
    assert pairer.add_colour(2.0, "c2.0") == ([], 0)  # depth comes later
    assert pairer.add_depth(2.005, "d2.005") == [("c2.0", "d2.005")]


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="slop"):
        ApproximateTimePairer(slop=-1.0)
    with pytest.raises(ValueError, match="queue_size"):
        ApproximateTimePairer(slop=0.01, queue_size=0)
    with pytest.raises(ValueError, match="reorder"):
        ApproximateTimePairer(slop=0.01, queue_size=3, reorder=3)
