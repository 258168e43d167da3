"""Build-once, run-at-many-sizes checks for the trt_dyn converters (executor vs PyTorch eager).

``check_dynamic(module, inputs, dynamic)`` exports ``module`` (``Dim.AUTO`` + ``torch._check`` bounds), builds ONE
engine through torch_tensorrt (``trt_dyn.build.build_engine``), then evaluates that network with the
CPU reference executor at the min, max, example and odd sizes of every range, on fresh random
inputs each time, and compares every output with eager (shape, dtype, values).
"""

from __future__ import annotations

from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import torch
from torch.export import Dim

from trt_dyn.build import build_engine
from trt_dyn.inputs import export_ranges
from trt_dyn.testing.executor import execute_network

Ranges = Mapping[int, Mapping[int, Tuple[int, int]]]


def _points(inputs: Sequence[torch.Tensor], dynamic: Ranges) -> List[List[Tuple[int, ...]]]:
    """Shapes per point: all-min, all-max, the example, and two odd in-range mixes."""
    def shapes(pick: Callable[[int, int, int, int], int]) -> List[Tuple[int, ...]]:
        result = []
        for index, tensor in enumerate(inputs):
            shape = list(tensor.shape)
            for axis, (lo, hi) in dynamic.get(index, {}).items():
                shape[axis] = pick(lo, hi, shape[axis], axis)
            result.append(tuple(shape))
        return result

    def odd(lo: int, hi: int, example: int, axis: int) -> int:
        value = (lo + hi) // 2 + axis
        value = min(max(value, lo), hi)
        if value % 2 == 0 and value + 1 <= hi:
            value += 1
        elif value % 2 == 0 and value - 1 >= lo:
            value -= 1
        return value

    points = [
        shapes(lambda lo, hi, ex, ax: lo),
        shapes(lambda lo, hi, ex, ax: hi),
        shapes(lambda lo, hi, ex, ax: ex),
        shapes(odd),
        shapes(lambda lo, hi, ex, ax: max(lo, min(hi, lo + 1 + ax))),
    ]
    unique = []
    for point in points:
        if point not in unique:
            unique.append(point)
    return unique


def random_like(shape: Tuple[int, ...], dtype: torch.dtype, generator: torch.Generator) -> torch.Tensor:
    if dtype.is_floating_point:
        return torch.randn(shape, generator=generator).to(dtype)
    if dtype == torch.bool:
        return torch.rand(shape, generator=generator) > 0.5
    return torch.randint(-50, 50, shape, generator=generator).to(dtype)


class _Bounded(torch.nn.Module):
    """Wraps a module with ``torch._check`` bounds so ``Dim.AUTO`` export keeps the wanted ranges."""

    def __init__(self, module: torch.nn.Module, bounds: List[Tuple[int, int, int, int]]):
        super().__init__()
        self.module = module
        self.bounds = bounds

    def forward(self, *inputs):
        for index, axis, lo, hi in self.bounds:
            torch._check(inputs[index].shape[axis] >= lo)
            torch._check(inputs[index].shape[axis] <= hi)
        return self.module(*inputs)


def _export(module: torch.nn.Module, inputs: Sequence[torch.Tensor], dynamic: Ranges):
    bounds = [(index, axis, lo, hi) for index, axes in dynamic.items() for axis, (lo, hi) in axes.items()]
    spec = tuple({axis: Dim.AUTO for axis in dynamic.get(index, {})} or None for index in range(len(inputs)))
    return torch.export.export(_Bounded(module, bounds), tuple(inputs), dynamic_shapes={"inputs": spec}, strict=False)


def check_dynamic(
    module: torch.nn.Module,
    inputs: Sequence[torch.Tensor],
    dynamic: Ranges,
    *,
    atol: float = 1e-4,
    rtol: float = 1e-4,
    make_input: Optional[Callable[[int, Tuple[int, ...], torch.dtype, torch.Generator], torch.Tensor]] = None,
    seed: int = 0,
):
    """Export with ``dynamic`` ({input index: {axis: (min, max)}}), build once, compare at each point.

    Returns ``(engine, points)``; raises AssertionError naming the point and output on mismatch.
    """
    module = module.eval()
    program = _export(module, inputs, dynamic)
    # The program's own ranges: export may raise a minimum (sizes 0/1 specialise; the ops' fake
    # kernels guard like aten does). Test over what was exported, and require it to stay dynamic.
    exported = export_ranges(program)
    names = list(exported)
    refined: Dict[int, Dict[int, Tuple[int, int]]] = {}
    for index, axes in dynamic.items():
        for axis, (lo, hi) in axes.items():
            low, high, _ = exported[names[index]][axis]
            assert lo <= low < high <= hi, (
                f"input {index} axis {axis}: exported range [{low}, {high}] is not a dynamic part of [{lo}, {hi}]"
            )
            refined.setdefault(index, {})[axis] = (int(low), int(high))
    dynamic = refined
    engine = build_engine(program)
    generator = torch.Generator().manual_seed(seed)
    points = _points(inputs, dynamic)
    for shapes in points:
        values = []
        for index, (shape, tensor) in enumerate(zip(shapes, inputs)):
            if make_input is not None:
                values.append(make_input(index, shape, tensor.dtype, generator))
            else:
                values.append(random_like(shape, tensor.dtype, generator))
        with torch.no_grad():
            expected = module(*values)
        expected = list(expected) if isinstance(expected, (list, tuple)) else [expected]
        feeds = dict(zip(engine.input_names, values))
        actual = list(execute_network(engine.network, feeds).values())
        assert len(actual) == len(expected), f"at {shapes}: {len(actual)} outputs, expected {len(expected)}"
        for position, (got, want) in enumerate(zip(actual, expected)):
            where = f"output {position} at input shapes {shapes}"
            assert tuple(got.shape) == tuple(want.shape), f"{where}: shape {tuple(got.shape)} != {tuple(want.shape)}"
            assert got.dtype == want.dtype, f"{where}: dtype {got.dtype} != {want.dtype}"
            if want.dtype.is_floating_point:
                torch.testing.assert_close(got, want, atol=atol, rtol=rtol, msg=lambda m: f"{where}: {m}")
            else:
                assert torch.equal(got, want), f"{where}: values differ\n{got}\n!=\n{want}"
    return engine, points
