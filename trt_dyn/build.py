"""Build serialized TensorRT engines through torch_tensorrt's own interpreter, keeping the network.

:func:`capture_builds` records every engine torch_tensorrt builds inside the ``with`` block, together
with its ``INetworkDefinition`` (weights kept alive, so layers and constants can be read back) and
its optimization profiles. :func:`build_engine` is the one-call form used by the demo and tests:
exported program in, one :class:`BuiltEngine` out.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import torch

from ._hooks import InterpreterEvents, interpreter_replaced
from ._trt import torch_tensorrt, trt
from .inputs import resolve_inputs

Shape = Tuple[int, ...]


@dataclass
class BuiltEngine:
    """One TensorRT engine built by torch_tensorrt, with the network it came from."""

    name: str
    serialized_engine: bytes
    network: Any  # trt.INetworkDefinition, valid while this object lives
    input_names: List[str]
    output_names: List[str]
    #: one dict per optimization profile: input name -> (min, opt, max)
    profiles: List[Dict[str, Tuple[Shape, Shape, Shape]]]
    build_seconds: float
    #: of build_seconds, the time spent converting FX nodes into the network (the rest is TensorRT's builder)
    convert_seconds: float = 0.0
    #: the interpreter owns the builder, network and weight buffers; keep it alive with the network
    _owner: Any = field(default=None, repr=False)

    @property
    def num_layers(self) -> int:
        return int(self.network.num_layers)

    def save(self, path: str) -> int:
        with open(path, "wb") as handle:
            handle.write(self.serialized_engine)
        return len(self.serialized_engine)


def _read_profiles(interpreter: Any) -> List[Dict[str, Tuple[Shape, Shape, Shape]]]:
    network = interpreter.ctx.net
    profiles = []
    for profile in interpreter.optimization_profiles or []:
        shapes = {}
        for index in range(network.num_inputs):
            tensor = network.get_input(index)
            if not tensor.is_shape_tensor and -1 not in tuple(tensor.shape):
                # torch_tensorrt puts only dynamic inputs in the profile; asking for a static one fails
                static = tuple(tensor.shape)
                shapes[tensor.name] = (static, static, static)
                continue
            if tensor.is_shape_tensor:
                lo, opt, hi = profile.get_shape_input(tensor.name)
            else:
                lo, opt, hi = profile.get_shape(tensor.name)
            shapes[tensor.name] = (tuple(lo), tuple(opt), tuple(hi))
        profiles.append(shapes)
    return profiles


class BuildProgress:
    """Prints conversion progress (every ~10% of the FX nodes) and TensorRT builder phases, one line each.

    Lines, not a redrawn bar, so that logs of long CPU builds stay readable.
    """

    def __init__(self, write: Callable[[str], None] = print, prefix: str = "  ") -> None:
        self.write = write
        self.prefix = prefix

    def conversion(self, done: int, total: int) -> None:
        step = max(1, total // 10)
        if done == total or done % step == 0:
            self.write(f"{self.prefix}converting FX nodes to TensorRT layers: {done}/{total}")

    def builder_monitor(self) -> Any:
        progress = self

        class LineMonitor(trt.IProgressMonitor):  # type: ignore[misc]
            def __init__(self) -> None:
                trt.IProgressMonitor.__init__(self)
                self._depth: Dict[str, int] = {}

            def phase_start(self, phase_name: str, parent_phase: Optional[str], num_steps: int) -> None:
                depth = self._depth.get(parent_phase, -1) + 1 if parent_phase else 0
                self._depth[phase_name] = depth
                if depth <= 1:
                    progress.write(f"{progress.prefix}{'  ' * depth}TensorRT builder: {phase_name} ({num_steps} steps)")

            def step_complete(self, phase_name: str, step: int) -> bool:
                return True

            def phase_finish(self, phase_name: str) -> None:
                self._depth.pop(phase_name, None)

        return LineMonitor()


_progress: List[BuildProgress] = []


@contextlib.contextmanager
def report_progress(progress: Optional[BuildProgress] = None) -> Iterator[BuildProgress]:
    """Show conversion and build progress for every engine captured inside the block."""
    progress = progress or BuildProgress()
    _progress.append(progress)
    try:
        yield progress
    finally:
        _progress.remove(progress)


@contextlib.contextmanager
def capture_builds() -> Iterator[List[BuiltEngine]]:
    """Record every engine that torch_tensorrt's interpreter builds inside the block."""
    records: List[BuiltEngine] = []

    def node_converted(interpreter: Any, done: int, total: int) -> None:
        if _progress:
            _progress[-1].conversion(done, total)

    def builder_config(config: Any) -> None:
        if _progress and config.progress_monitor is None:
            config.progress_monitor = _progress[-1].builder_monitor()

    def engine_built(interpreter: Any, result: Any, build_seconds: float, convert_seconds: float) -> None:
        records.append(
            BuiltEngine(
                name=f"_run_on_acc_{len(records)}",
                serialized_engine=bytes(memoryview(result.engine.serialize())),
                network=interpreter.ctx.net,
                input_names=list(result.input_names),
                output_names=list(result.output_names),
                profiles=_read_profiles(interpreter),
                build_seconds=build_seconds,
                convert_seconds=convert_seconds,
                _owner=interpreter,
            )
        )

    with interpreter_replaced(InterpreterEvents(node_converted, builder_config, engine_built)):
        yield records


def default_settings() -> Dict[str, Any]:
    """Settings every CPU build needs: no engine cache, no timing cache reuse across runs."""
    return {"cache_built_engines": False, "reuse_cached_engines": False}


def build_engine(
    exported_program: torch.export.ExportedProgram,
    arg_inputs: Optional[Sequence[Any]] = None,
    **settings: Any,
) -> BuiltEngine:
    """Convert ``exported_program`` with torch_tensorrt and build one serialized engine.

    ``arg_inputs`` are ``torch_tensorrt.Input`` specs or example tensors; when omitted the
    optimization profile is taken from the export's ``Dim`` ranges (see :func:`trt_dyn.inputs.resolve_inputs`).
    Works with or without a GPU; without one the engine is built by TensorRT-RTX on the CPU.
    """
    inputs = resolve_inputs(exported_program, arg_inputs)
    options = {**default_settings(), "require_full_compilation": True, **settings}
    with capture_builds() as records:
        torch_tensorrt.dynamo.convert_exported_program_to_serialized_trt_engine(
            exported_program, arg_inputs=inputs, **options
        )
    if len(records) != 1:
        raise RuntimeError(f"expected one TensorRT engine, torch_tensorrt built {len(records)}")
    return records[0]


__all__ = ["BuiltEngine", "BuildProgress", "report_progress", "capture_builds", "build_engine", "default_settings", "trt"]
