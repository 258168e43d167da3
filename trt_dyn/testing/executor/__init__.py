"""CPU reference executor: evaluates a TensorRT ``INetworkDefinition`` layer by layer with torch,
following TensorRT's documented semantics (see ``docs/executor.md``).

    from trt_dyn.testing.executor import execute_network, LAYER_EXECUTORS, UnsupportedLayerError
    outputs = execute_network(network, {"x": torch.randn(2, 3)})   # {output name: tensor}
"""

from __future__ import annotations

from .core import LAYER_CLASSES, NetworkExecutor, cast_layer, execute_network, get_executor
from .errors import (
    AssertionLayerError,
    ExecutorError,
    ExecutorInputError,
    LayerExecutionError,
    UnsupportedLayerError,
)
from .registry import LAYER_EXECUTORS

__all__ = [
    "execute_network",
    "NetworkExecutor",
    "get_executor",
    "LAYER_EXECUTORS",
    "LAYER_CLASSES",
    "cast_layer",
    "UnsupportedLayerError",
    "ExecutorError",
    "ExecutorInputError",
    "LayerExecutionError",
    "AssertionLayerError",
]
