"""From an image to skeletons and actions, without ROS: detectors, crops, camera geometry, tracking,
action clips, the pipeline and the live-stream policy around it. It imports model/ (and choices.py)
only: the pipeline is handed an engine, it never imports inference/."""
