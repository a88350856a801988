"""The `run` progress bar: redrawn in place on a terminal, whole lines now and then in a log."""

import io

from deephar_ros.offline.video import ProgressBar


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _feed(bar: ProgressBar, clock: Clock, frames: int, seconds_per_frame: float) -> None:
    for done in range(1, frames + 1):
        clock.now += seconds_per_frame
        bar.update(done, people=2)
    bar.finish()


def test_a_log_gets_one_whole_line_per_interval_and_the_last_update():
    log, clock = io.StringIO(), Clock()
    bar = ProgressBar(total=100, stream=log, log_every_s=10.0, clock=clock)
    _feed(bar, clock, 100, seconds_per_frame=0.5)  # 50 s
    text = log.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    # the first update, then one every 10 s (frames 21, 41, 61, 81), then the last (held back)
    assert [line.split("] ")[1].split()[0] for line in lines] == [
        "1/100",
        "21/100",
        "41/100",
        "61/100",
        "81/100",
        "100/100",
    ]
    assert lines[-1] == f"[{'#' * 30}] 100/100   2.0 fps people=2"
    assert text.endswith("\n")


def test_a_log_line_is_not_written_twice_when_the_last_update_was_logged():
    log, clock = io.StringIO(), Clock()
    bar = ProgressBar(total=None, stream=log, log_every_s=10.0, clock=clock)
    _feed(bar, clock, 2, seconds_per_frame=10.0)
    assert log.getvalue().splitlines() == ["1 frames   0.1 fps people=2", "2 frames   0.1 fps people=2"]


def test_a_terminal_gets_the_line_redrawn_in_place():
    terminal, clock = Terminal(), Clock()
    bar = ProgressBar(total=4, stream=terminal, clock=clock)
    _feed(bar, clock, 4, seconds_per_frame=0.1)
    text = terminal.getvalue()
    assert text.count("\r") == 4 and text.count("\n") == 1 and text.endswith(" \n")
    assert "4/4" in text.rsplit("\r", 1)[1]


def test_nothing_is_written_without_updates():
    log, terminal = io.StringIO(), Terminal()
    for stream in (log, terminal):
        ProgressBar(total=10, stream=stream).finish()
    assert log.getvalue() == terminal.getvalue() == ""


def test_a_closed_or_plain_stream_counts_as_a_log():
    closed = io.StringIO()
    closed.close()
    assert not ProgressBar(total=1, stream=closed).in_place
    assert not ProgressBar(total=1, stream=io.StringIO()).in_place
    assert ProgressBar(total=1, stream=Terminal()).in_place
