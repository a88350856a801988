"""deephar_ros: 3D human pose and action recognition (Luvizon et al., TPAMI 2020) for ROS 2.

The network and the pipeline run without ROS; the ROS nodes are thin adapters over them.
"""

__version__ = "0.1.0"
