"""The deephar_demo_source node: a video file published as a camera (Image rgb8 + CameraInfo).

Lets the whole graph run without a camera. Frames go out at the file's own frame rate with the
current time as stamp; the camera info holds pinhole intrinsics from the hfov parameter, since a
video file carries no calibration. The video parameter names the file; a relative path is taken from
the working directory (`ros2 launch`/`ros2 run` keep the shell's), and empty means the sample video
scripts/setup.sh puts in the source checkout, found from this file's location so any folder works.
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import rclpy
from rcl_interfaces.msg import FloatingPointRange, ParameterDescriptor
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from deephar_ros.offline.video import SAMPLE_VIDEO
from deephar_ros.perception.camera import CameraIntrinsics
from deephar_ros.ros.image_conversion import rgb_to_image
from deephar_ros.ros.node_main import run_node

NODE_NAME = "deephar_demo_source"
DEFAULT_VIDEO = ""  # the sample video
DEFAULT_FRAME_ID = "camera_optical_frame"
FALLBACK_FPS = 10.0  # when the container does not say
CAMERA_QOS = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)


def resolve_video(value: str) -> Path:
    """The absolute path of the video parameter's file; FileNotFoundError saying what was looked for."""
    if not value:
        if SAMPLE_VIDEO.is_file():
            return SAMPLE_VIDEO
        raise FileNotFoundError(
            f"parameter video is empty and the sample video {SAMPLE_VIDEO} does not exist: pass "
            "video:=/path/to/video (in a source checkout, scripts/setup.sh fetches the sample)"
        )
    path = Path(value).expanduser()
    if path.is_absolute():
        where = ""
    else:
        where = f", relative to the working directory {Path.cwd()}"
        path = Path.cwd() / path
    if not path.is_file():
        raise FileNotFoundError(f"video file '{path}' does not exist (parameter video='{value}'{where})")
    return path


def camera_info(intrinsics: CameraIntrinsics, header: Header) -> CameraInfo:
    """A distortion-free CameraInfo for these intrinsics."""
    fx, fy, cx, cy = intrinsics.fx, intrinsics.fy, intrinsics.cx, intrinsics.cy
    return CameraInfo(
        header=header,
        width=intrinsics.width,
        height=intrinsics.height,
        distortion_model="plumb_bob",
        d=[0.0] * 5,
        k=[fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0],
        r=[1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
        p=[fx, 0.0, cx, 0.0, 0.0, fy, cy, 0.0, 0.0, 0.0, 1.0, 0.0],
    )


class DemoSource(Node):
    """Publishes the frames of a video file on image and camera_info."""

    def __init__(self, **node_options) -> None:
        super().__init__(NODE_NAME, **node_options)
        self.capture: cv2.VideoCapture | None = None  # destroy_node runs even when __init__ fails
        video = self.declare_parameter(
            "video",
            DEFAULT_VIDEO,
            ParameterDescriptor(
                description="Video file to publish; relative: from the working directory; empty: the sample.",
                read_only=True,
            ),
        ).value
        self.loop = self.declare_parameter(
            "loop",
            True,
            ParameterDescriptor(description="Start again at the end of the file.", read_only=True),
        ).value
        hfov = self.declare_parameter(
            "hfov",
            60.0,
            ParameterDescriptor(
                description="Horizontal field of view (degrees) of the published intrinsics.",
                read_only=True,
                floating_point_range=[FloatingPointRange(from_value=1.0, to_value=179.0, step=0.0)],
            ),
        ).value
        self.frame_id = self.declare_parameter(
            "frame_id",
            DEFAULT_FRAME_ID,
            ParameterDescriptor(description="frame_id of the published messages.", read_only=True),
        ).value

        video = resolve_video(video)
        self.capture = cv2.VideoCapture(str(video))
        width = int(self.capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(self.capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        if not self.capture.isOpened() or width <= 0 or height <= 0:
            raise ValueError(f"video file '{video}' cannot be decoded by OpenCV")
        fps = self.capture.get(cv2.CAP_PROP_FPS)
        self.fps = fps if fps > 0 else FALLBACK_FPS
        self.intrinsics = CameraIntrinsics.default_for(width, height, hfov_deg=hfov)
        self.frames_published = 0
        self.finished = False

        self._image = self.create_publisher(Image, "image", CAMERA_QOS)
        self._camera_info = self.create_publisher(CameraInfo, "camera_info", CAMERA_QOS)
        self._timer = self.create_timer(1.0 / self.fps, self._publish_next)
        self.get_logger().info(
            f"publishing {video} ({width}x{height} at {self.fps:.1f} fps, loop={self.loop})"
        )

    def _publish_next(self) -> None:
        ok, bgr = self.capture.read()
        if not ok and self.loop and self.frames_published:
            self.capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, bgr = self.capture.read()
        if not ok:
            self.get_logger().info(f"end of video after {self.frames_published} frames")
            self._timer.cancel()
            self.finished = True
            return
        header = Header(stamp=self.get_clock().now().to_msg(), frame_id=self.frame_id)
        # camera info first, so a subscriber has the intrinsics when the first image arrives
        self._camera_info.publish(camera_info(self.intrinsics, header))
        self._image.publish(rgb_to_image(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), header))
        self.frames_published += 1

    def destroy_node(self) -> None:
        if self.capture is not None:
            self.capture.release()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    """Entry point of the demo_source executable; non-zero exit when the video cannot be opened."""
    return run_node(NODE_NAME, DemoSource, _spin_until_finished, args)


def _spin_until_finished(node: DemoSource) -> None:
    while rclpy.ok() and not node.finished:
        rclpy.spin_once(node, timeout_sec=0.5)


if __name__ == "__main__":
    sys.exit(main())
