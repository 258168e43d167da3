"""Errors raised by the CPU reference executor."""

from __future__ import annotations

from typing import Any, Optional


class ExecutorError(RuntimeError):
    """Base class of every error the reference executor raises on purpose."""


class UnsupportedLayerError(ExecutorError, NotImplementedError):
    """A layer type, mode or attribute value the executor does not implement (it never guesses).

    ``layer_type``, ``mode`` and ``layer_name`` are kept as attributes; the message names all three.
    """

    def __init__(self, layer_type: Any, mode: Any = None, layer_name: Optional[str] = None,
                 detail: str = ""):
        self.layer_type = layer_type
        self.mode = mode
        self.layer_name = layer_name
        parts = [f"unsupported layer: type {layer_type}"]
        if mode is not None:
            parts.append(f"mode {mode}")
        parts.append(f"layer '{layer_name}'")
        message = ", ".join(parts)
        if detail:
            message += f": {detail}"
        super().__init__(message)


class ExecutorInputError(ExecutorError, ValueError):
    """An input given to :func:`execute_network` does not match the network input it is bound to."""

    def __init__(self, input_name: str, message: str):
        self.input_name = input_name
        super().__init__(f"network input '{input_name}': {message}")


class LayerExecutionError(ExecutorError):
    """A layer's inputs are invalid at run time (TensorRT would fail too), or an executor's result
    disagrees with what the network declares (dtype or static dims): names the layer."""

    def __init__(self, layer: Any, message: str):
        self.layer_name = getattr(layer, "name", str(layer))
        try:
            from ..._trt import trt

            self.layer_type = trt.ILayer.type.fget(layer)
        except Exception:  # not a TensorRT layer
            self.layer_type = getattr(layer, "type", None)
        super().__init__(f"layer '{self.layer_name}' ({self.layer_type}): {message}")


class AssertionLayerError(ExecutorError, AssertionError):
    """An IAssertionLayer's condition was false at run time; the message is the layer's message."""

    def __init__(self, layer_name: str, message: str):
        self.layer_name = layer_name
        self.assertion_message = message
        super().__init__(f"assertion layer '{layer_name}' failed: {message}")


__all__ = [
    "ExecutorError",
    "UnsupportedLayerError",
    "ExecutorInputError",
    "LayerExecutionError",
    "AssertionLayerError",
]
