"""The converter test itself: export, compile, run at every size point, compare with eager."""

from __future__ import annotations

import collections
import itertools
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import torch

from ..._trt import trt
from ..compile_cpu import CompiledModule, compile_cpu
from .compare import ConverterMismatchError, compare_outputs
from .export import _forward_parameter_names, export_dynamic
from .network import network_layer_types
from .sizes import InputGenerator, Shape, _call_generator, _shapes_at, default_input, size_points


def _engine_modes() -> List[Any]:
    try:
        import pytest
    except ImportError:  # the harness itself does not need pytest
        return [False]
    return [
        pytest.param(False, id="executor"),
        pytest.param(True, id="engine", marks=pytest.mark.gpu),
    ]


#: ``@pytest.mark.parametrize("run_engines", ENGINE_MODES)``: executor always, real engine with ``gpu``.
ENGINE_MODES = _engine_modes()


@dataclass
class ConverterTestResult:
    """What a converter test built and checked (for further assertions by the test)."""

    exported_program: torch.export.ExportedProgram
    compiled: CompiledModule
    #: (label, {input name: shape}) of every point compared with eager
    points: List[Tuple[str, Dict[str, Shape]]] = field(default_factory=list)

    @property
    def networks(self) -> List[Any]:
        return [engine.network for engine in self.compiled.engines]

    @property
    def layer_types(self) -> "collections.Counter[str]":
        """Layer types over all engines (e.g. ``result.layer_types["CONVOLUTION"]``)."""
        total: "collections.Counter[str]" = collections.Counter()
        for network in self.networks:
            total.update(network_layer_types(network))
        return total

    @property
    def converted_ops(self) -> List[str]:
        return list(itertools.chain.from_iterable(self.compiled.segment_ops.values()))


def run_converter_test(
    module: torch.nn.Module,
    inputs: Sequence[torch.Tensor],
    dynamic: Optional[Mapping[str, Mapping[int, Any]]] = None,
    *,
    dynamic_shapes: Any = None,
    expected_engines: Optional[int] = 1,
    allow_pytorch_nodes: bool = False,
    input_generators: Optional[Mapping[str, InputGenerator]] = None,
    tolerances: Optional[Mapping[torch.dtype, Tuple[float, float]]] = None,
    run_engines: bool = False,
    seed: int = 1234,
    extra_points: Sequence[Mapping[str, Shape]] = (),
    **settings: Any,
) -> ConverterTestResult:
    """Export, compile (CPU executor or, with ``run_engines``, the real engine) and compare with eager.

    ``expected_engines=None`` accepts any number; ``allow_pytorch_nodes`` lifts the no-PyTorch-node
    rule (``require_full_compilation`` is then off unless given). ``extra_points`` are additional
    input shapes ``{name: shape}`` to test. ``settings`` go to torch_tensorrt.
    """
    module = module.eval()
    inputs = tuple(inputs)
    names = _forward_parameter_names(module, len(inputs))
    program = export_dynamic(module, inputs, dynamic, dynamic_shapes=dynamic_shapes)
    options = {"min_block_size": 1, "require_full_compilation": not allow_pytorch_nodes, **settings}
    compiled = compile_cpu(program, run_engines=run_engines, **options)
    result = ConverterTestResult(program, compiled)

    if expected_engines is not None and compiled.num_trt_engines != expected_engines:
        raise ConverterMismatchError(
            f"expected {expected_engines} TensorRT engine(s), torch_tensorrt built {compiled.num_trt_engines}; "
            f"left to PyTorch: {[str(n) for n in compiled.pytorch_nodes]}"
        )
    if not allow_pytorch_nodes and compiled.pytorch_nodes:
        raise ConverterMismatchError(
            f"nodes left to PyTorch (no converter, or a converter refused them): "
            f"{[str(n) for n in compiled.pytorch_nodes]}"
        )

    generators = dict(input_generators or {})
    unknown = set(generators) - set(names)
    if unknown:
        raise ValueError(f"input_generators for unknown inputs {sorted(unknown)}; inputs are {names}")
    dtypes = [tensor.dtype for tensor in inputs]

    planned: List[Tuple[str, List[Shape]]] = [
        (label, _shapes_at(program, values)) for label, values in size_points(program)
    ]
    for index, extra in enumerate(extra_points):
        shapes = [tuple(extra.get(name, tuple(tensor.shape))) for name, tensor in zip(names, inputs)]
        planned.append((f"extra{index}", shapes))

    for point_index, (label, shapes) in enumerate(planned):
        generator = torch.Generator().manual_seed(seed + 7919 * point_index)
        by_name = dict(zip(names, shapes))
        sample = []
        for name, shape, dtype in zip(names, shapes, dtypes):
            fn = generators.get(name, default_input)
            tensor = _call_generator(fn, shape, dtype, generator, by_name)
            if tuple(tensor.shape) != shape or tensor.dtype != dtype:
                raise ValueError(
                    f"input generator for {name!r} returned {tuple(tensor.shape)} {tensor.dtype}, "
                    f"wanted {shape} {dtype}"
                )
            sample.append(tensor)
        where = f"{label} sizes {by_name}"
        with torch.no_grad():
            expected = module(*[t.clone() for t in sample])
            try:
                actual = compiled(*[t.clone() for t in sample])
            except Exception as err:
                # keep the type (e.g. the executor's UnsupportedLayerError), add where it happened
                err.add_note(f"converter test: raised by the compiled program at {where}")
                raise
        compare_outputs(actual, expected, where=where, tolerances=tolerances)
        result.points.append((label, by_name))
    return result


class ConverterTestCase:
    """Mixin for ``unittest.TestCase`` (or a plain pytest class): ``self.run_converter_test(...)``.

    Class attributes set defaults for every test of the class: ``tolerances`` (merged over
    :data:`DEFAULT_TOLERANCES`), ``converter_settings`` (torch_tensorrt settings), ``seed``.
    """

    tolerances: Dict[torch.dtype, Tuple[float, float]] = {}
    converter_settings: Dict[str, Any] = {}
    seed: int = 1234

    def run_converter_test(
        self,
        module: torch.nn.Module,
        inputs: Sequence[torch.Tensor],
        dynamic: Optional[Mapping[str, Mapping[int, Any]]] = None,
        **kwargs: Any,
    ) -> ConverterTestResult:
        kwargs.setdefault("tolerances", {**self.tolerances, **(kwargs.get("tolerances") or {})})
        kwargs.setdefault("seed", self.seed)
        for key, value in self.converter_settings.items():
            kwargs.setdefault(key, value)
        return run_converter_test(module, inputs, dynamic, **kwargs)

    def assert_layer_types(self, result: ConverterTestResult, *layer_types: str) -> None:
        """Assert every named ``trt.LayerType`` (e.g. ``"CONVOLUTION"``) occurs in the built networks."""
        assert_layer_types(result, *layer_types)


def assert_layer_types(result: ConverterTestResult, *layer_types: str) -> None:
    """Assert every named ``trt.LayerType`` occurs in the networks of ``result``."""
    present = result.layer_types
    known = set(trt.LayerType.__members__)
    for name in layer_types:
        if name not in known:
            raise ValueError(f"unknown TensorRT layer type {name!r}")
    missing = [name for name in layer_types if not present.get(name)]
    if missing:
        raise ConverterMismatchError(
            f"layer types {missing} not in the network; it has {dict(sorted(present.items()))}"
        )


__all__ = ["ENGINE_MODES", "ConverterTestResult", "run_converter_test", "ConverterTestCase", "assert_layer_types"]
