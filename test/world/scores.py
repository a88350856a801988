"""The scores of a run: accuracy, people found, identities, clips and actions, one function.

Errors (2D px, 3D mm in the camera frame) are over the joints in the image that the pipeline gives
with at least `min_confidence` (those it would draw and publish as found).
Matching: in each frame every estimate is paired with the true person its 2D joints are nearest
(mean distance over the person's joints in the image), when that distance is under `gate` x the
person's box height. The nearest estimate of each person is their match; any other estimate paired
with the same person is a duplicate skeleton. People count as present when at least half their
joints are visible (in the image and not hidden by someone nearer).

Identity (CLEAR-MOT style): a switch is a person's matched track id changing from the id it last
had; a fragmentation is a person matched again after frames present but unmatched.
Actions: the accuracy of each matched person's current top label against the label of their
scripted action (frames whose action has a label in the set), and the latency from each change of
labelled action to the first frame showing the new label.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from deephar_ros.perception.action_buffer import AUTHORS_CLIP_STRIDE, AUTHORS_VIDEO_FPS
from deephar_ros.perception.results import NS_PER_S
from world.harness import Run
from world.scenes import ACTION_LABELS


@dataclass
class RunScores:
    frames: int
    error_2d_px: float  # mean over matched people and their joints in the image
    error_2d_p95_px: float
    error_3d_mm: float  # mean per-joint position error (camera frame), NaN for 2D models
    error_3d_p95_mm: float
    recall: float  # present people matched / present people
    precision: float  # estimates matched to someone / estimates
    duplicates: int  # estimates of a person already matched in that frame
    id_switches: int
    fragmentations: int
    detector_calls_per_frame: float
    clips_scored: int
    clips_one_person: float  # share of clips whose frames all show one person
    clips_authors_span: float  # share of clips spanning the authors' time within `span_margin`
    clip_span_s: float  # median span of the clips
    action_accuracy: float  # NaN when no labelled action was shown
    action_latency_s: float  # median over labelled action changes (NaN when none was recognised)

    def summary(self) -> str:
        return " ".join(f"{k}={_fmt(v)}" for k, v in asdict(self).items())

    def last_line(self) -> str:
        return (
            f"duplicates={self.duplicates} id_switches={self.id_switches} recall={self.recall:.3f} "
            f"detector_calls_per_frame={self.detector_calls_per_frame:.3f}"
        )


def _fmt(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:.3f}"


def authors_clip_span_s(label_set: str, num_frames: int) -> float:
    """The time an authors' clip spans: (T - 1) samples at their stride, in 30 fps video."""
    return (num_frames - 1) * AUTHORS_CLIP_STRIDE[label_set] / AUTHORS_VIDEO_FPS


def score_run(
    run: Run, gate: float = 0.25, span_margin: float = 0.1, min_confidence: float = 0.3
) -> RunScores:
    errors_2d, errors_3d = [], []
    present = matched = estimates = estimates_matched = duplicates = 0
    last_id: dict[int, int] = {}
    was_matched: dict[int, bool] = {}
    switches = fragmentations = 0
    correct = labelled = 0
    label_set = run.network.config.label_set
    labels = ACTION_LABELS.get(label_set, {})
    change_at: dict[int, tuple[int, str]] = {}  # person -> (stamp of their last action change, its label)
    previous_action: dict[int, str] = {}
    latencies = []
    for truth, result in run.frames:
        for p in truth.people:
            label = labels.get(p.action)
            if previous_action.get(p.person_id) != p.action:
                if label is not None and p.person_id in previous_action:
                    change_at[p.person_id] = (truth.stamp_ns, label)
                else:
                    change_at.pop(p.person_id, None)
                previous_action[p.person_id] = p.action
        # each estimate to its nearest person
        pairs: dict[int, list[tuple[float, object]]] = {}
        for est in result.people:
            estimates += 1
            best, best_d = None, math.inf
            joints = len(est.joints_2d)  # the preset's first joints of the scene's 17
            for p in truth.people:
                inside = p.in_image[:joints]
                if not inside.any():
                    continue
                gaps = np.linalg.norm(est.joints_2d[inside] - p.joints_2d[:joints][inside], axis=1)
                d = float(np.mean(gaps))
                if d < best_d:
                    best, best_d = p, d
            if best is not None and best_d < gate * max(best.box.height, 1.0):
                pairs.setdefault(best.person_id, []).append((best_d, est))
                estimates_matched += 1
        duplicates += sum(len(found) - 1 for found in pairs.values())
        for p in truth.people:
            is_present = p.visible.sum() >= 0.5 * len(p.visible)
            found = sorted(pairs.get(p.person_id, []), key=lambda x: x[0])
            if is_present:
                present += 1
                if found:
                    matched += 1
                elif was_matched.get(p.person_id):
                    was_matched[p.person_id] = False
            if not found:
                continue
            est = found[0][1]
            if was_matched.get(p.person_id) is False:
                fragmentations += 1
            was_matched[p.person_id] = True
            if p.person_id in last_id and last_id[p.person_id] != est.track_id:
                switches += 1
            last_id[p.person_id] = est.track_id
            n = len(est.joints_2d)
            judged = p.in_image[:n] & (est.confidences >= min_confidence)
            errors_2d.extend(np.linalg.norm(est.joints_2d[judged] - p.joints_2d[:n][judged], axis=1))
            if np.isfinite(est.joints_3d).all():
                errors_3d.extend(1000 * np.linalg.norm(est.joints_3d - p.joints_3d[:n], axis=1)[judged])
            label = labels.get(p.action)
            if label is not None and est.action is not None:
                labelled += 1
                correct += est.action.top_label == label
                if p.person_id in change_at and est.action.top_label == label:
                    start, change_label = change_at.pop(p.person_id)
                    if change_label == label:
                        latencies.append((truth.stamp_ns - start) / NS_PER_S)
    clips = run.network.clips
    span = authors_clip_span_s(label_set, run.network.config.num_frames) if clips else math.nan
    return RunScores(
        frames=len(run.frames),
        error_2d_px=_mean(errors_2d),
        error_2d_p95_px=_p95(errors_2d),
        error_3d_mm=_mean(errors_3d),
        error_3d_p95_mm=_p95(errors_3d),
        recall=matched / present if present else math.nan,
        precision=estimates_matched / estimates if estimates else math.nan,
        duplicates=duplicates,
        id_switches=switches,
        fragmentations=fragmentations,
        detector_calls_per_frame=run.detector.calls / max(len(run.frames), 1),
        clips_scored=len(clips),
        clips_one_person=_share([c.one_person for c in clips]),
        clips_authors_span=_share([abs(c.span_s - span) <= span_margin * span for c in clips]),
        clip_span_s=float(np.median([c.span_s for c in clips])) if clips else math.nan,
        action_accuracy=correct / labelled if labelled else math.nan,
        action_latency_s=float(np.median(latencies)) if latencies else math.nan,
    )


def _mean(values: list) -> float:
    return float(np.mean(values)) if len(values) else math.nan


def _p95(values: list) -> float:
    return float(np.percentile(values, 95)) if len(values) else math.nan


def _share(flags: list[bool]) -> float:
    return float(np.mean(flags)) if flags else math.nan
