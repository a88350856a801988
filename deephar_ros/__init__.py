"""deephar_ros: 3D human pose and action recognition (Luvizon et al., TPAMI 2020) for ROS 2.

The network and the pipeline run without ROS; the ROS nodes are thin adapters over them.
"""

import pkgutil

# The generated messages (deephar_ros.msg) are installed by CMake into another deephar_ros folder
# (site-packages, or install/ of a colcon workspace) than these sources when both are not installed
# together: extending __path__ makes the two folders one package.
__path__ = pkgutil.extend_path(__path__, __name__)

__version__ = "0.1.0"
