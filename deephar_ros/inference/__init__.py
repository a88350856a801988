"""Running the network on crops: the engine, its back ends (CPU, CUDA, TensorRT, ONNX Runtime,
OpenVINO) and the precision guard. It imports model/ (and choices.py) only."""
