"""Runs a scene through the pipeline, as a video file or as a live stream that drops frames."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from deephar_ros.model.config import get_preset
from deephar_ros.perception.live_stream import LiveStream
from deephar_ros.perception.pipeline import Pipeline, PipelineConfig
from deephar_ros.perception.results import FrameResult
from world.perfect_network import PerfectNetwork
from world.render import render_frame
from world.scenes import Frame, Scene
from world.truth_detector import TruthDetector


@dataclass
class Run:
    """What a run gives the scorer: each processed frame's truth and result, and the stand-ins."""

    scene: Scene
    frames: list[tuple[Frame, FrameResult]] = field(default_factory=list)
    network: PerfectNetwork | None = None
    detector: TruthDetector | None = None
    frames_offered: int = 0


def run_scene(
    scene: Scene,
    config: PipelineConfig | None = None,
    *,
    model: str = "ntu_multitask",
    network: PerfectNetwork | None = None,
    detector: TruthDetector | None = None,
    use_depth: bool = True,
    drop_rate: float = 0.0,
    live: bool = True,
    seed: int = 0,
) -> Run:
    """Every frame of `scene` (less the dropped ones) through a pipeline with the perfect network.

    `live`: through LiveStream, as the ROS node feeds it (measured frame rate, camera intrinsics
    received); else straight into Pipeline.process with the intrinsics, as a video job.
    `drop_rate`: each frame is lost before the pipeline with this probability (seeded).
    """
    network = network or PerfectNetwork(get_preset(model), fps=scene.camera.fps)
    detector = detector or TruthDetector()
    pipeline = Pipeline(network, config or PipelineConfig(), detector=detector)
    stream = LiveStream(pipeline, silence_timeout_s=5.0) if live else None
    if stream is not None:
        stream.set_intrinsics(scene.camera.intrinsics)
    rng = np.random.default_rng(seed)
    run = Run(scene, network=network, detector=detector)
    for index in range(scene.num_frames):
        run.frames_offered += 1
        if drop_rate and rng.random() < drop_rate:
            continue
        rendered = render_frame(scene, scene.frame(index))
        network.show(rendered.truth)
        detector.show(rendered.truth)
        depth = rendered.depth if use_depth else None
        if stream is not None:
            result = stream.process(rendered.rgb, rendered.truth.stamp_ns, depth).result
        else:
            result = pipeline.process(rendered.rgb, rendered.truth.stamp_ns, scene.camera.intrinsics, depth)
        run.frames.append((rendered.truth, result))
    return run
