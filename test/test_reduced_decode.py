"""Large JPEGs decoded reduced (1/2, 1/4, 1/8 in the DCT domain) and the results brought back to the
full image's pixels: the intrinsics, a full-size depth image and given boxes follow the reduction."""

import cv2
import numpy as np
import pytest
from sensor_msgs.msg import CompressedImage
from world.perfect_network import PerfectNetwork
from world.render import render_frame
from world.scenes import Camera, make_scene
from world.truth_detector import TruthDetector

from deephar_ros.perception.camera import CameraIntrinsics
from deephar_ros.perception.live_stream import LiveStream
from deephar_ros.perception.pipeline import Pipeline, PipelineConfig
from deephar_ros.perception.results import Box, FrameResult, PersonEstimate, in_image_of_size
from deephar_ros.ros.image_conversion import compressed_to_reduced_rgb, jpeg_reduction


def jpeg(rgb: np.ndarray) -> CompressedImage:
    settings = [
        cv2.IMWRITE_JPEG_QUALITY,
        97,
        cv2.IMWRITE_JPEG_SAMPLING_FACTOR,
        cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444,
    ]
    return CompressedImage(format="jpeg", data=cv2.imencode(".jpg", rgb[:, :, ::-1], settings)[1].tobytes())


def test_the_reduction_is_the_first_that_fits_and_png_is_never_reduced():
    assert [jpeg_reduction(w, 1000, 2048) for w in (640, 2048, 2049, 4096, 4097, 8192, 16000)] == [
        1,
        1,
        2,
        2,
        4,
        4,
        8,
    ]
    assert jpeg_reduction(8192, 8192, 0) == 1  # 0: never
    image = np.random.default_rng(1).integers(0, 256, (1200, 1600, 3), dtype=np.uint8)
    rgb, factor, full = compressed_to_reduced_rgb(jpeg(image), max_side=800)
    assert (rgb.shape, factor, full) == ((600, 800, 3), 2, (1600, 1200))
    png = CompressedImage(format="png", data=cv2.imencode(".png", image)[1].tobytes())
    rgb, factor, full = compressed_to_reduced_rgb(png, max_side=800)
    assert (rgb.shape, factor, full) == ((1200, 1600, 3), 1, (1600, 1200))


def test_reduced_intrinsics_project_where_the_reduced_pixels_are():
    full = CameraIntrinsics(
        2100.0, 2000.0, 1279.5, 959.5, 2560, 1920, "plumb_bob", np.array([0.1, 0, 0, 0, 0])
    )
    quarter = full.reduced(4, 640, 480)
    assert (quarter.fx, quarter.fy, quarter.cx, quarter.cy) == (525.0, 500.0, 319.5, 239.5)
    assert np.array_equal(quarter.distortion, full.distortion)  # on normalised rays: unchanged
    pixels = np.array([[100.0, 1800.0], [2000.0, 50.5]])
    rays_full = full.normalised_rays(pixels)
    assert quarter.normalised_rays((pixels + 0.5) / 4 - 0.5) == pytest.approx(rays_full)


def test_a_result_maps_to_the_full_image_and_back():
    person = PersonEstimate(
        1, Box(10.0, 20.0, 30.0, 60.0, 0.9), ["a"], np.array([[15.5, 40.25]]), np.zeros((1, 3)), np.ones(1)
    )
    small = FrameResult(stamp_ns=5, width=640, height=480, people=[person])
    full = in_image_of_size(small, 4, 2560, 1920)
    (big,) = full.people
    assert (big.box.x0, big.box.y1, full.width) == (40.0, 240.0, 2560)
    assert big.joints_2d[0] == pytest.approx([(15.5 + 0.5) * 4 - 0.5, (40.25 + 0.5) * 4 - 0.5])
    back = in_image_of_size(full, 0.25, 640, 480)
    assert back.people[0].joints_2d == pytest.approx(person.joints_2d)
    assert person.box.x0 == 10.0  # the input is left as it was


def test_a_4k_world_frame_decoded_at_a_quarter_gives_the_full_frames_truth():
    camera = Camera(width=2560, height=1920, fx=2100.0, fy=2100.0, cx=1279.5, cy=959.5)
    scene = make_scene("walk_towards", duration_s=0.5, camera=camera)
    network = PerfectNetwork()
    stream = LiveStream(Pipeline(network, PipelineConfig(), detector=TruthDetector()), silence_timeout_s=5.0)
    stream.set_intrinsics(camera.intrinsics)
    for index in (0, 7, 14):
        rendered = render_frame(scene, scene.frame(index))
        rgb, factor, full = compressed_to_reduced_rgb(jpeg(rendered.rgb), max_side=800)
        network.show(rendered.truth)
        boxes = [p.box for p in rendered.truth.people]  # given in the full image, as a detector topic's
        step = stream.process(rgb, rendered.truth.stamp_ns, rendered.depth, boxes, factor, full)
        assert factor == 4 and not [n for n in step.notices if n.reason in ("depth_size", "camera_info_size")]
        (person,), (truth,) = step.result.people, rendered.truth.people
        assert (step.result.width, step.result.height) == (2560, 1920)
        assert (
            np.abs(person.joints_2d - truth.joints_2d).max() < 2.0
        )  # full-image pixels, 4 per decoded pixel
        assert (
            np.abs(person.joints_3d - truth.joints_3d).max() < 0.01
        )  # metres, with the full-size depth image
