"""The network: SPNet in PyTorch, its presets, joints and labels, the authors' Keras weights, the
released files and their downloads, the ONNX export. The ground floor: it imports no other layer."""
