"""The network: SPNet in PyTorch, its presets, joints and labels, the authors' Keras weights, the
released files and their downloads, the ONNX export. It imports no other layer, only
choices.py."""
