"""Per-track clips of per-frame network features for the action branch, and score combination.

The authors build NTU clips from videos first subsampled by 2 (deephar/data/ntu.py
`video_subsample = 2`) then by `ntu_dataconf.fixed_subsampling = 4`: every 8th frame of NTU's
30 fps video. Penn Action clips take every `pennaction_dataconf.fixed_subsampling = 6`th frame
(deephar/config.py). A clip of T = 8 such frames spans about 2.1 s (NTU) or 1.6 s (Penn).
`authors_sample_spacing_ns` is that stride as time: 8/30 s (NTU) or 6/30 s (Penn).

A live camera drops frames and changes rate, so by default a track samples by time, not by frame
count: a frame becomes a sample when its stamp reaches the track's next sample time less half the
track's frame interval (the frame nearest the time), and the sample times advance by the authors'
spacing, anchored to the first sample, so late samples (a dropped frame) do not drift the grid.
No rate estimate decides what is in a clip and nothing restarts when the rate changes. A due clip
is the last T samples; it is refused (counted in `clips_refused`, not scored) when its span differs
from the authors' ((T - 1) x spacing) by more than `max_span_error` of it, e.g. after a gap. A camera
slower than the authors' sample rate (frame interval over the spacing) makes every frame a sample:
those clips are scored, stretched over more time than the authors' (`DueClip.stretched`; the live
stream warns). A fixed `stride` (frames; `clip_stride`) samples every stride-th frame of a track
instead, with no time check, as a video file's frames all arrive.

Each track keeps a ring of its last T sampled feature vectors. Once full, a clip is due when a new
sample arrived and at least `run_every_n_frames` frames of that track have passed since its last
clip; the scores shown combine its last `average_clips` clips' scores (see `SCORINGS`).

With scoring "authors" and samples by time, clips are the authors' clips instead, cut from the
track's recent frames rather than the ring: clip k starts k x `authors_clip_step_ns` after the
track's first frame (NTU 14/30 s, Penn 9/30 s) and holds, for each of its T sample times
start + i x spacing, the frame nearest that time. It is due when the newest frame reaches its last
sample time (less half a frame, as a sample); it is refused when a sample's nearest frame is half
a spacing or more off its time (frames dropped there) or its span does not fit. Consecutive clips
sample different frames (14 is not a multiple of 8), so the track keeps every frame of the last
span + step (~2.3 s; NTU's 11,928 features: 48 KB a frame, ~3.4 MB a track at 30 fps). A camera
slower than the sample rate makes its clips from the ring, every frame a sample, as above.

How the authors score a video (exp/common/ntu_tools.py and exp/common/penn_tools.py
`eval_multiclip_dataset`, called by exp/ntu/eval_ntu_multitask.py:90 and
exp/pennaction/eval_penn_multitask.py:100):
- Clips start every int(T/2) + (s - 1) frames, s the clip stride (deephar/data/ntu.py:308,
  deephar/data/pennaction.py:219): 7 frames of NTU's 15 fps video (14 at 30 fps, 1.75 samples),
  9 of Penn's (1.5 samples), so consecutive clips share most of their frames. `authors_clip_step`.
- Every clip is run twice, as is and with every frame's crop mirrored left-right
  (ntu_tools.py:94-97, ntu.py:226-227; penn_tools.py:115-118, pennaction.py:160-161): the whole
  network runs on the mirrored crops, nothing is un-mirrored before the action head.
- The video's scores are the product of the softmax scores of all its clips, both passes
  (ntu_tools.py:115, penn_tools.py:127, starting from ones at ntu_tools.py:69 and penn_tools.py:100),
  and only the arg max is used (ntu_tools.py:141, penn_tools.py:153).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from deephar_ros.choices import SCORINGS
from deephar_ros.perception.results import NS_PER_S, ActionEstimate

AUTHORS_CLIP_STRIDE = {"ntu60": 8, "penn_action": 6}
AUTHORS_VIDEO_FPS = 30.0
# Frames of the 30 fps video per frame of the video the authors cut clips from (ntu.py:12).
AUTHORS_VIDEO_SUBSAMPLE = {"ntu60": 2, "penn_action": 1}
# A softmax score that underflowed to zero ranks below every nonzero one, without log(0).
MIN_SCORE = np.finfo(np.float64).tiny


def authors_clip_stride(label_set: str, fps: float | None = None) -> int:
    """The authors' clip stride in frames for a label set, rescaled from 30 fps to `fps` when given."""
    if label_set not in AUTHORS_CLIP_STRIDE:
        raise ValueError(f"unknown label set {label_set!r}; known: {', '.join(AUTHORS_CLIP_STRIDE)}")
    stride = AUTHORS_CLIP_STRIDE[label_set]
    if fps is None:
        return stride
    if not fps > 0:
        raise ValueError(f"frame rate must be positive, got {fps}")
    return max(1, round(stride * fps / AUTHORS_VIDEO_FPS))


def authors_sample_spacing_ns(label_set: str) -> int:
    """The authors' time between two samples of a clip: their stride at 30 fps, in nanoseconds."""
    return round(authors_clip_stride(label_set) * NS_PER_S / AUTHORS_VIDEO_FPS)


def authors_clip_step(label_set: str, num_frames: int, fps: float | None = None) -> int:
    """Frames between the starts of the authors' test clips (for `run_every_n_frames`).

    int(T/2) + stride - 1 frames of the video they cut clips from, whose stride is the 30 fps one
    over its own subsampling (NTU: 4 + 3 = 7 frames at 15 fps, i.e. 14 at 30 fps; Penn: 9).
    As `run_every_n_frames` it runs a clip every `step` frames on the samples taken so far, so a
    clip's content moves on by whole strides, `step` frames on average.
    """
    stride = authors_clip_stride(label_set)
    subsample = AUTHORS_VIDEO_SUBSAMPLE[label_set]
    step = (num_frames // 2 + stride // subsample - 1) * subsample
    if fps is None:
        return step
    if not fps > 0:
        raise ValueError(f"frame rate must be positive, got {fps}")
    return max(1, round(step * fps / AUTHORS_VIDEO_FPS))


def authors_clip_step_ns(label_set: str, num_frames: int) -> int:
    """Time between the starts of the authors' test clips: `authors_clip_step` at 30 fps, in ns."""
    return round(authors_clip_step(label_set, num_frames) * NS_PER_S / AUTHORS_VIDEO_FPS)


@dataclass
class _Frame:
    """One frame of a track kept for the authors' clips."""

    stamp_ns: int
    features: np.ndarray
    mirrored_features: np.ndarray | None
    framing: object | None


@dataclass
class DueClip:
    """A full clip ready for the action branch."""

    track_id: int
    features: np.ndarray  # (T, K), oldest first
    start_ns: int  # stamp of the oldest frame
    end_ns: int  # stamp of the newest frame
    mirrored_features: np.ndarray | None = None  # (T, K) of the mirrored crops, with `mirrored`
    framings: list | None = None  # each sample's framing (clip_window.FrameFraming) when every one had it
    stretched: bool = False  # samples by time from a camera slower than the authors' sample rate


@dataclass
class _TrackClip:
    ring: np.ndarray  # (T, K)
    stamps_ns: np.ndarray  # (T,) int64
    mirror_ring: np.ndarray | None = None  # (T, K) with `mirrored`
    framings: list = field(default_factory=list)  # (T,) what `add` was given with each sample
    count: int = 0  # samples written so far
    frames_seen: int = 0
    next_sample_ns: int | None = None  # sampling by time: when the next sample is due
    last_stamp_ns: int | None = None
    intervals_ns: deque = field(default_factory=lambda: deque(maxlen=9))  # the track's recent frame intervals
    frames_at_last_clip: int | None = None
    samples_at_last_clip: int = 0
    recent_scores: deque = field(default_factory=deque)  # (passes, A) per clip
    latest: ActionEstimate | None = None
    frames: deque = field(default_factory=deque)  # the authors' scoring: recent frames (_Frame)
    next_clip_ns: int | None = None  # the authors' scoring: the start of the next clip


def combine_scores(scores: np.ndarray, scoring: str) -> np.ndarray:
    """(N, A) softmax score vectors -> one (A,) distribution.

    "mean" averages them; "authors" multiplies them as the authors do over a video, summing logs
    (so many clips cannot underflow) and renormalising so the result still reads as probabilities.
    """
    if scoring == "mean":
        return scores.mean(axis=0)
    logs = np.log(np.maximum(scores, MIN_SCORE)).sum(axis=0)
    product = np.exp(logs - logs.max())
    return product / product.sum()


class ActionClipBuffers:
    """Clip rings and action scores for every live track.

    `scoring` "mean" averages the last `average_clips` clips' scores; "authors" takes their
    normalised product. The authors multiply over a whole trimmed video, which a live stream does
    not have: an unbounded product would never let go of an old action, so the product runs over
    the same sliding window of `average_clips` clips. With `run_every_n_frames = authors_clip_step`
    the default 3 clips (14 and 9 frames apart at 30 fps) span about 3.1 s (NTU) or 2.2 s (Penn),
    about one short action.
    `mirrored` takes a second feature stream from the mirrored crops, and a second score vector per
    clip, both of which count in the window, as in the authors' test.
    """

    def __init__(
        self,
        num_frames: int,
        stride: int,
        labels: list[str],
        label_set: str,
        run_every_n_frames: int = 1,
        average_clips: int = 3,
        scoring: str = "mean",
        mirrored: bool = False,
        spacing_ns: int | None = None,
        max_span_error: float = 0.1,
    ) -> None:
        if num_frames < 1 or stride < 1 or run_every_n_frames < 1 or average_clips < 1:
            raise ValueError("clip length, stride, run rate and averaging must all be >= 1")
        if spacing_ns is not None and spacing_ns < 1:
            raise ValueError(f"sample spacing must be positive, got {spacing_ns} ns")
        if not max_span_error > 0:
            raise ValueError(f"max_span_error must be positive, got {max_span_error}")
        self.spacing_ns = spacing_ns  # None: every `stride`-th frame of a track, whatever its stamp
        self.max_span_error = max_span_error
        self.clips_refused = 0  # clips not scored: their span was not the authors'
        self.clips_stretched = 0  # clips scored over more time than the authors' (a slow camera)
        if scoring not in SCORINGS:
            raise ValueError(f"scoring must be one of {SCORINGS}, got {scoring!r}")
        self.num_frames = num_frames
        self.stride = stride
        self.labels = list(labels)
        self.label_set = label_set
        self.run_every_n_frames = run_every_n_frames
        self.average_clips = average_clips
        self.scoring = scoring
        self.mirrored = mirrored
        self.tracks: dict[int, _TrackClip] = {}
        # the authors' clips (module doc), with their scoring on samples by time
        self.clip_step_ns = (
            authors_clip_step_ns(label_set, num_frames)
            if scoring == "authors" and spacing_ns is not None
            else None
        )

    def add(
        self,
        track_id: int,
        features: np.ndarray,
        stamp_ns: int,
        mirrored_features: np.ndarray | None = None,
        framing: object | None = None,
    ) -> bool:
        """Offer a track's per-frame features; True when this frame was sampled into its clip.

        `framing` (clip_window.FrameFraming) travels with the sample to its due clips, unread here.
        """
        if (mirrored_features is not None) != self.mirrored:
            need = "need" if self.mirrored else "take no"
            raise ValueError(f"these buffers {need} mirrored features (mirrored={self.mirrored})")
        features = np.asarray(features, dtype=np.float32).ravel()
        clip = self.tracks.get(track_id)
        if clip is None or clip.ring.shape[1] != features.size:
            clip = _TrackClip(
                ring=np.zeros((self.num_frames, features.size), np.float32),
                stamps_ns=np.zeros(self.num_frames, np.int64),
                mirror_ring=np.zeros((self.num_frames, features.size), np.float32) if self.mirrored else None,
                framings=[None] * self.num_frames,
                recent_scores=deque(maxlen=self.average_clips),
            )
            self.tracks[track_id] = clip
        sampled = self._sampled(clip, stamp_ns)
        clip.frames_seen += 1
        if self.clip_step_ns is not None:
            if clip.next_clip_ns is None:
                clip.next_clip_ns = stamp_ns  # the authors' first clip starts at the video's first frame
            mirror = None if mirrored_features is None else np.array(mirrored_features, np.float32).ravel()
            clip.frames.append(_Frame(stamp_ns, features.copy(), mirror, framing))
            keep_ns = self.num_frames * self.spacing_ns + self.clip_step_ns  # a clip's span and more
            while stamp_ns - clip.frames[0].stamp_ns > keep_ns:  # bounded while a slow camera uses the ring
                clip.frames.popleft()
        if sampled:
            slot = clip.count % self.num_frames
            clip.ring[slot] = features
            clip.stamps_ns[slot] = stamp_ns
            clip.framings[slot] = framing
            if clip.mirror_ring is not None:
                clip.mirror_ring[slot] = np.asarray(mirrored_features, dtype=np.float32).ravel()
            clip.count += 1
        return sampled

    def _sampled(self, clip: _TrackClip, stamp_ns: int) -> bool:
        """Whether this frame of a track becomes a sample (see the module docstring)."""
        if self.spacing_ns is None:
            return clip.frames_seen % self.stride == 0
        if clip.last_stamp_ns is not None and stamp_ns > clip.last_stamp_ns:
            clip.intervals_ns.append(stamp_ns - clip.last_stamp_ns)
        clip.last_stamp_ns = stamp_ns
        if clip.next_sample_ns is not None:
            if stamp_ns < clip.next_sample_ns - self._half_frame_ns(clip):
                return False
            clip.next_sample_ns += self.spacing_ns
            if stamp_ns >= clip.next_sample_ns:  # a gap longer than the spacing: the grid starts here
                clip.next_sample_ns = stamp_ns + self.spacing_ns
            return True
        clip.next_sample_ns = stamp_ns + self.spacing_ns
        return True

    @staticmethod
    def _frame_interval_ns(clip: _TrackClip) -> int:
        return int(np.median(clip.intervals_ns)) if clip.intervals_ns else 0

    def _half_frame_ns(self, clip: _TrackClip) -> int:
        """How early a frame may be for a sample time and still be the one nearest it."""
        return min(self._frame_interval_ns(clip), self.spacing_ns) // 2

    def _is_slow(self, clip: _TrackClip) -> bool:
        """Whether the track's frames come further apart than the authors' samples (with the margin)."""
        return self._frame_interval_ns(clip) > self.spacing_ns * (1 + self.max_span_error)

    def _span_fits(self, clip: _TrackClip, start_ns: int, end_ns: int) -> tuple[bool, bool]:
        """(scored, stretched) for a clip spanning start..end of a track sampled by time."""
        authors = (self.num_frames - 1) * self.spacing_ns
        if abs((end_ns - start_ns) - authors) <= self.max_span_error * authors:
            return True, False
        slow = self._is_slow(clip)
        return slow, slow

    def due_clips(self) -> list[DueClip]:
        """Every full clip whose turn it is, oldest sample first; clips refused for their span are counted."""
        due = []
        for track_id, clip in self.tracks.items():
            if self.clip_step_ns is not None and clip.frames and not self._is_slow(clip):
                due += self._authors_clips(track_id, clip)
                continue
            if clip.count < self.num_frames or clip.count == clip.samples_at_last_clip:
                continue
            if (
                clip.frames_at_last_clip is not None
                and clip.frames_seen - clip.frames_at_last_clip < self.run_every_n_frames
            ):
                continue
            order = (np.arange(self.num_frames) + clip.count) % self.num_frames
            start_ns, end_ns = int(clip.stamps_ns[order[0]]), int(clip.stamps_ns[order[-1]])
            stretched = False
            if self.spacing_ns is not None:
                scored, stretched = self._span_fits(clip, start_ns, end_ns)
                self.clips_stretched += stretched
                if not scored:
                    self.clips_refused += 1
                    clip.samples_at_last_clip = clip.count  # judged: wait for the next sample
                    continue
            mirrored = None if clip.mirror_ring is None else clip.mirror_ring[order].copy()
            framings = [clip.framings[i] for i in order]
            if any(framing is None for framing in framings):
                framings = None
            due.append(
                DueClip(track_id, clip.ring[order].copy(), start_ns, end_ns, mirrored, framings, stretched)
            )
        return due

    def _authors_clips(self, track_id: int, clip: _TrackClip) -> list[DueClip]:
        """The authors' clips of a track whose last sample time its newest frame has reached."""
        due = []
        stamps = np.array([frame.stamp_ns for frame in clip.frames], np.int64)
        half_frame = self._half_frame_ns(clip)
        span = (self.num_frames - 1) * self.spacing_ns
        first_usable = int(stamps[0]) - self.spacing_ns // 2
        if clip.next_clip_ns < first_usable:  # its frames are gone: after a slow camera's ring clips
            clip.next_clip_ns += (
                -(-(first_usable - clip.next_clip_ns) // self.clip_step_ns) * self.clip_step_ns
            )
        while stamps[-1] >= clip.next_clip_ns + span - half_frame:
            targets = clip.next_clip_ns + self.spacing_ns * np.arange(self.num_frames)
            picks = np.abs(stamps[None, :] - targets[:, None]).argmin(axis=1)
            clip.next_clip_ns += self.clip_step_ns
            off = np.abs(stamps[picks] - targets)
            start_ns, end_ns = int(stamps[picks[0]]), int(stamps[picks[-1]])
            if off.max() * 2 >= self.spacing_ns or not self._span_fits(clip, start_ns, end_ns)[0]:
                self.clips_refused += 1  # frames dropped at one of its sample times
                continue
            frames = [clip.frames[i] for i in picks]
            framings = [frame.framing for frame in frames]
            due.append(
                DueClip(
                    track_id,
                    np.stack([frame.features for frame in frames]),
                    start_ns,
                    end_ns,
                    None if not self.mirrored else np.stack([frame.mirrored_features for frame in frames]),
                    None if any(framing is None for framing in framings) else framings,
                )
            )
        while clip.frames and 2 * (clip.next_clip_ns - clip.frames[0].stamp_ns) > self.spacing_ns:
            clip.frames.popleft()  # too early for any later clip's first sample
        return due

    def record_scores(
        self, clip: DueClip, scores: np.ndarray, mirrored_scores: np.ndarray | None = None
    ) -> ActionEstimate:
        """Store one clip's softmax scores (and its mirrored pass's); the estimate combines recent clips."""
        if (mirrored_scores is not None) != self.mirrored:
            need = "need" if self.mirrored else "take no"
            raise ValueError(f"these buffers {need} mirrored scores (mirrored={self.mirrored})")
        passes = [scores] if mirrored_scores is None else [scores, mirrored_scores]
        passes = [np.asarray(p, dtype=np.float64).ravel() for p in passes]
        for p in passes:
            if p.size != len(self.labels):
                raise ValueError(f"{p.size} action scores for {len(self.labels)} labels ({self.label_set})")
        state = self.tracks[clip.track_id]
        state.frames_at_last_clip = state.frames_seen
        state.samples_at_last_clip = state.count
        state.recent_scores.append(np.stack(passes))
        state.latest = ActionEstimate(
            track_id=clip.track_id,
            scores=combine_scores(np.concatenate(state.recent_scores), self.scoring),
            labels=self.labels,
            label_set=self.label_set,
            clip_start_ns=clip.start_ns,
            clip_end_ns=clip.end_ns,
            clips_averaged=len(state.recent_scores),
        )
        return state.latest

    def latest(self, track_id: int) -> ActionEstimate | None:
        """The newest combined estimate of a track, if it has had a full clip."""
        clip = self.tracks.get(track_id)
        return None if clip is None else clip.latest

    def drop(self, track_ids: list[int]) -> None:
        """Forget retired tracks."""
        for track_id in track_ids:
            self.tracks.pop(track_id, None)

    def reset(self) -> None:
        self.tracks.clear()
