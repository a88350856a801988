"""ROS 2 adapters: the perception node, the demo video source and their message conversions.

Everything that imports rclpy or ROS messages lives here, so the network and the pipeline stay
usable without ROS.
"""
