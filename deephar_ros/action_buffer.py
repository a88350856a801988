"""Per-track clips of per-frame network features for the action branch, and score averaging.

The authors build NTU clips from videos first subsampled by 2 (deephar/data/ntu.py
`video_subsample = 2`) then by `ntu_dataconf.fixed_subsampling = 4`: every 8th frame of NTU's
30 fps video. Penn Action clips take every `pennaction_dataconf.fixed_subsampling = 6`th frame
(deephar/config.py). A clip of T = 8 such frames spans about 2.1 s (NTU) or 1.6 s (Penn).
`authors_clip_stride` rescales those strides to another camera rate so a clip spans the same time.

Each track keeps a ring of its last T sampled feature vectors. Once full, a clip is due when a new
sample arrived and at least `run_every_n_frames` frames of that track have passed since its last
clip; the scores shown are the mean of its last `average_clips` clips' scores.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from deephar_ros.results import ActionEstimate

AUTHORS_CLIP_STRIDE = {"ntu60": 8, "penn_action": 6}
AUTHORS_VIDEO_FPS = 30.0


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


@dataclass
class DueClip:
    """A full clip ready for the action branch."""

    track_id: int
    features: np.ndarray  # (T, K), oldest first
    start_ns: int  # stamp of the oldest frame
    end_ns: int  # stamp of the newest frame


@dataclass
class _TrackClip:
    ring: np.ndarray  # (T, K)
    stamps_ns: np.ndarray  # (T,) int64
    count: int = 0  # samples written so far
    frames_seen: int = 0
    frames_at_last_clip: int | None = None
    samples_at_last_clip: int = 0
    recent_scores: deque = field(default_factory=deque)
    latest: ActionEstimate | None = None


class ActionClipBuffers:
    """Clip rings and action scores for every live track."""

    def __init__(
        self,
        num_frames: int,
        stride: int,
        labels: list[str],
        label_set: str,
        run_every_n_frames: int = 1,
        average_clips: int = 3,
    ) -> None:
        if num_frames < 1 or stride < 1 or run_every_n_frames < 1 or average_clips < 1:
            raise ValueError("clip length, stride, run rate and averaging must all be >= 1")
        self.num_frames = num_frames
        self.stride = stride
        self.labels = list(labels)
        self.label_set = label_set
        self.run_every_n_frames = run_every_n_frames
        self.average_clips = average_clips
        self.tracks: dict[int, _TrackClip] = {}

    def add(self, track_id: int, features: np.ndarray, stamp_ns: int) -> bool:
        """Offer a track's per-frame features; True when this frame was sampled into its clip."""
        features = np.asarray(features, dtype=np.float32).ravel()
        clip = self.tracks.get(track_id)
        if clip is None or clip.ring.shape[1] != features.size:
            clip = _TrackClip(
                ring=np.zeros((self.num_frames, features.size), np.float32),
                stamps_ns=np.zeros(self.num_frames, np.int64),
                recent_scores=deque(maxlen=self.average_clips),
            )
            self.tracks[track_id] = clip
        sampled = clip.frames_seen % self.stride == 0
        clip.frames_seen += 1
        if sampled:
            slot = clip.count % self.num_frames
            clip.ring[slot] = features
            clip.stamps_ns[slot] = stamp_ns
            clip.count += 1
        return sampled

    def due_clips(self) -> list[DueClip]:
        """Every full clip whose turn it is, oldest sample first."""
        due = []
        for track_id, clip in self.tracks.items():
            if clip.count < self.num_frames or clip.count == clip.samples_at_last_clip:
                continue
            if (
                clip.frames_at_last_clip is not None
                and clip.frames_seen - clip.frames_at_last_clip < self.run_every_n_frames
            ):
                continue
            order = (np.arange(self.num_frames) + clip.count) % self.num_frames
            start_ns, end_ns = int(clip.stamps_ns[order[0]]), int(clip.stamps_ns[order[-1]])
            due.append(DueClip(track_id, clip.ring[order].copy(), start_ns, end_ns))
        return due

    def record_scores(self, clip: DueClip, scores: np.ndarray) -> ActionEstimate:
        """Store one clip's softmax scores; the track's estimate averages its recent clips."""
        scores = np.asarray(scores, dtype=np.float64).ravel()
        if scores.size != len(self.labels):
            raise ValueError(f"{scores.size} action scores for {len(self.labels)} labels ({self.label_set})")
        state = self.tracks[clip.track_id]
        state.frames_at_last_clip = state.frames_seen
        state.samples_at_last_clip = state.count
        state.recent_scores.append(scores)
        state.latest = ActionEstimate(
            track_id=clip.track_id,
            scores=np.mean(state.recent_scores, axis=0),
            labels=self.labels,
            label_set=self.label_set,
            clip_start_ns=clip.start_ns,
            clip_end_ns=clip.end_ns,
            clips_averaged=len(state.recent_scores),
        )
        return state.latest

    def latest(self, track_id: int) -> ActionEstimate | None:
        """The newest averaged estimate of a track, if it has had a full clip."""
        clip = self.tracks.get(track_id)
        return None if clip is None else clip.latest

    def drop(self, track_ids: list[int]) -> None:
        """Forget retired tracks."""
        for track_id in track_ids:
            self.tracks.pop(track_id, None)

    def reset(self) -> None:
        self.tracks.clear()
