"""ONNX exports of the network kept on disk, so that a second start skips the export.

Exporting SPNet traces it through TorchScript: seconds per start (BENCHMARKS.md, "Start-up"). The
bytes of each graph are kept in a TrustedCache (private folder, HMAC manifest), under a name that
holds a hash of everything the export depends on: the weights, the preset, the network's and the
exporter's source code, the opset and the torch version. Different weights or code get new files;
a file planted or altered is refused and the graph exported again.
"""

import functools
import hashlib
import json
import logging
from pathlib import Path

import torch
from torch import nn

from deephar_ros.inference.backends.trusted_cache import TrustedCache, weights_digest
from deephar_ros.model import config, onnx_export, spnet, spnet_blocks
from deephar_ros.model.onnx_export import DEFAULT_OPSET, onnx_bytes

logger = logging.getLogger(__name__)

# The modules whose code decides what an export holds: a change to any of them is a new cache key.
_EXPORT_SOURCES = (config, spnet, spnet_blocks, onnx_export)


def _sources_digest() -> str:
    digest = hashlib.sha256()
    for module in _EXPORT_SOURCES:
        digest.update(Path(module.__file__).read_bytes())
    return digest.hexdigest()


class OnnxExports:
    """The ONNX graphs of one network, exported once per key and kept in `folder` (None: not kept).

    `weights_key` (a sha256 over the weights) is computed once, when first asked for, and shared
    with the callers that key other caches by the same weights (the precision verdicts).
    """

    def __init__(self, model: nn.Module, folder: Path | None, opset: int = DEFAULT_OPSET) -> None:
        self.model = model
        self.opset = opset
        self.cache = TrustedCache(Path(folder)) if folder is not None else None

    @functools.cached_property
    def weights_key(self) -> str:
        return weights_digest(self.model)

    def cache_name(self, graph: str) -> str:
        """File name of one graph: spnet_<graph>_<hash of weights, preset, code, opset, torch>.onnx."""
        key = "|".join(
            (
                self.weights_key,
                json.dumps(self.model.config.to_dict(), sort_keys=True),
                _sources_digest(),
                f"torchscript-exporter opset {self.opset}",
                torch.__version__,
                graph,
            )
        )
        return f"spnet_{graph}_{hashlib.sha256(key.encode()).hexdigest()[:20]}.onnx"

    def graph(self, graph: str) -> bytes:
        """The serialised ONNX graph: from the cache when it vouches for it, else exported (and stored)."""
        if self.cache is None:
            return onnx_bytes(self.model, graph, self.opset)
        name = self.cache_name(graph)
        data = self.cache.verified_bytes(name)
        if data is not None:
            logger.info("onnx: graph %r from the cache %s", graph, self.cache.folder)
            return data
        data = onnx_bytes(self.model, graph, self.opset)
        if self.cache.store(name, data):
            logger.info("onnx: graph %r exported and cached in %s", graph, self.cache.folder)
        return data
