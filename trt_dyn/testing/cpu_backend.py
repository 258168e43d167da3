"""A ``torch.compile`` backend: torch_tensorrt's own backend, with each TensorRT engine run by the CPU executor.

``torch.compile(model, backend=CpuBackend(), dynamic=True, options={...})`` runs exactly what
``backend="torch_tensorrt"`` runs (dynamo graph -> AOT export -> torch_tensorrt's lowering passes, trt_dyn's
included -> partitioning -> conversion -> TensorRT build, all with the same ``options``); only the engines are
wrapped in :class:`~trt_dyn.testing.compile_cpu.ExecutorEngineModule` instead of a GPU runtime module, as in
:func:`~trt_dyn.testing.compile_cpu.compile_cpu` (the same hook, :func:`engines_on_executor`).

torch_tensorrt's backend never raises on a failed conversion (unless ``pass_through_build_failures``): it logs
the error and hands dynamo the graph to run in eager PyTorch. The backend records that error, so a test sees
a fallback instead of a silently slower model. Each call is one :class:`BackendCall`.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Sequence

import torch

from .._hooks import BACKEND_LOGGER, torch_compile_backend
from ..build import BuiltEngine, default_settings
from .compile_cpu import PyTorchNode, engines_on_executor, pytorch_nodes

__all__ = ["BackendCall", "CpuBackend"]

_BACKEND_LOGGER = BACKEND_LOGGER


@dataclass
class BackendCall:
    """One call of the backend: one graph dynamo captured, and what torch_tensorrt made of it."""

    graph_module: torch.fx.GraphModule  #: the graph dynamo handed over
    compiled: Any  #: what dynamo runs from now on
    engines: List[BuiltEngine]
    segment_ops: Dict[str, List[str]]  #: TensorRT segment -> the FX ops converted into it
    #: computation nodes torch_tensorrt left to PyTorch (every node of the graph after a fallback)
    pytorch_nodes: List[PyTorchNode]
    #: the error torch_tensorrt caught before returning the graph to eager PyTorch, None when it converted
    fallback_error: Optional[BaseException] = None
    seconds: float = 0.0
    inputs: List[str] = field(default_factory=list)  #: example input kinds, e.g. "SymInt", "Tensor[1, s0, s1]"


class _FallbackRecorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.errors: List[BaseException] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and record.exc_info[1] is not None:
            self.errors.append(record.exc_info[1])


@contextlib.contextmanager
def _recording_fallbacks() -> Iterator[List[BaseException]]:
    logger = logging.getLogger(_BACKEND_LOGGER)
    recorder = _FallbackRecorder()
    logger.addHandler(recorder)
    try:
        yield recorder.errors
    finally:
        logger.removeHandler(recorder)


def _describe_input(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"Tensor{list(value.shape)}"
    return type(value).__name__


class CpuBackend:
    """A counting ``torch.compile`` backend (see the module docstring).

    ``calls`` lists every :class:`BackendCall`; ``num_calls``, ``num_engines``, ``fallbacks`` and
    ``pytorch_nodes`` sum them up. ``options`` given to ``torch.compile`` reach torch_tensorrt unchanged,
    on top of the engine-cache-off defaults every CPU build needs (:func:`trt_dyn.build.default_settings`).
    """

    def __init__(self) -> None:
        self.calls: List[BackendCall] = []

    def __call__(self, graph_module: torch.fx.GraphModule, example_inputs: Sequence[Any], **kwargs: Any) -> Any:
        torch_tensorrt_backend = torch_compile_backend()
        options = {**default_settings(), **(kwargs.pop("options", None) or {})}
        described = [_describe_input(value) for value in example_inputs]
        start = time.perf_counter()
        with engines_on_executor() as (engines, segment_ops), _recording_fallbacks() as errors:
            compiled = torch_tensorrt_backend(graph_module, list(example_inputs), options={**options, **kwargs})
        # after a fallback torch_tensorrt returns the dynamo graph itself: all of it runs in PyTorch
        partitioned = compiled if isinstance(compiled, torch.fx.GraphModule) else graph_module
        call = BackendCall(
            graph_module=graph_module,
            compiled=compiled,
            engines=list(engines),
            segment_ops=dict(segment_ops),
            pytorch_nodes=pytorch_nodes(partitioned),
            fallback_error=errors[0] if errors else None,
            seconds=time.perf_counter() - start,
            inputs=described,
        )
        self.calls.append(call)
        return compiled

    @property
    def num_calls(self) -> int:
        return len(self.calls)

    @property
    def num_engines(self) -> int:
        return sum(len(call.engines) for call in self.calls)

    @property
    def fallbacks(self) -> List[BaseException]:
        return [call.fallback_error for call in self.calls if call.fallback_error is not None]

    @property
    def pytorch_nodes(self) -> List[PyTorchNode]:
        return [node for call in self.calls for node in call.pytorch_nodes]

    def reset(self) -> None:
        self.calls.clear()
