"""deephar_ros: 3D human pose and action recognition (Luvizon et al., TPAMI 2020) for ROS 2.

The network and the pipeline run without ROS; the ROS nodes are thin adapters over them.
"""

import os
import pkgutil

# The generated messages (deephar_ros.msg) are installed by CMake into another deephar_ros folder
# (site-packages, or install/ of a colcon workspace) than these sources when both are not installed
# together: extending __path__ makes the two folders one package.
__path__ = pkgutil.extend_path(__path__, __name__)

__version__ = "0.1.0"

# Largest image any part of the package decodes or accepts: more than any camera, and it refuses a
# declared 20000x20000 before anything is allocated.
MAX_IMAGE_PIXELS = 8192 * 8192

# OpenCV reads its decoder pixel cap (default 2**30) once, when cv2 is imported: every module of the
# package that imports cv2 runs this first, so imdecode/imread refuse an over-cap image themselves.
os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(MAX_IMAGE_PIXELS))
