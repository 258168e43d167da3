"""Small helpers for building TensorRT networks in the executor tests (strongly typed RTX networks)."""

from __future__ import annotations

from typing import Dict, Iterable, Optional, Sequence, Tuple

import numpy as np
import torch

from trt_dyn._trt import TORCH_TO_TRT, trt  # noqa: F401  (re-exported for the tests)
from trt_dyn.testing.executor import execute_network

LOGGER = trt.Logger(trt.Logger.ERROR)

NP_TO_TRT = {
    np.dtype(np.float32): trt.float32,
    np.dtype(np.float16): trt.float16,
    np.dtype(np.int32): trt.int32,
    np.dtype(np.int64): trt.int64,
    np.dtype(np.int8): trt.int8,
    np.dtype(np.bool_): trt.bool,
}

Shape = Tuple[int, ...]


class Net:
    """A network under construction, plus the shape ranges its dynamic inputs may take."""

    def __init__(self) -> None:
        self.builder = trt.Builder(LOGGER)
        self.network = self.builder.create_network(0)
        self.ranges: Dict[str, Tuple[Shape, Shape, Shape]] = {}
        self.shape_ranges: Dict[str, Tuple[Sequence[int], Sequence[int], Sequence[int]]] = {}

    def input(self, name: str, dtype: torch.dtype, shape: Sequence[int],
              lo: Optional[Sequence[int]] = None, hi: Optional[Sequence[int]] = None) -> trt.ITensor:
        """An input; a -1 dim needs lo/hi (full shapes) for the optimization profile."""
        tensor = self.network.add_input(name, TORCH_TO_TRT[dtype], tuple(shape))
        if -1 in shape:
            assert lo is not None and hi is not None, "dynamic input needs lo/hi"
            opt = tuple((a + b) // 2 for a, b in zip(lo, hi))
            self.ranges[name] = (tuple(lo), opt, tuple(hi))
        return tensor

    def shape_input(self, name: str, length: int, lo: Sequence[int], hi: Sequence[int],
                    dtype: torch.dtype = torch.int32) -> trt.ITensor:
        """A 1-D (or 0-D when length == 0) shape-tensor input with a value range."""
        tensor = self.network.add_input(name, TORCH_TO_TRT[dtype], (length,) if length else ())
        opt = [(a + b) // 2 for a, b in zip(lo, hi)]
        self.shape_ranges[name] = (list(lo), opt, list(hi))
        return tensor

    def const(self, value, dtype: Optional[np.dtype] = None) -> trt.ITensor:
        array = np.array(value, dtype=dtype)  # copies; keeps 0-D shapes (ascontiguousarray would not)
        layer = self.network.add_constant(array.shape, trt.Weights(array))
        # the network keeps a pointer to the array: keep it alive with the network
        self.__dict__.setdefault("_arrays", []).append(array)
        return layer.get_output(0)

    def output(self, *tensors: trt.ITensor) -> None:
        for tensor in tensors:
            self.network.mark_output(tensor)

    def build(self) -> bytes:
        """Build a serialized engine (proves TensorRT accepts the network)."""
        config = self.builder.create_builder_config()
        if self.ranges or self.shape_ranges:
            profile = self.builder.create_optimization_profile()
            for name, (lo, opt, hi) in self.ranges.items():
                profile.set_shape(name, lo, opt, hi)
            for name, (lo, opt, hi) in self.shape_ranges.items():
                profile.set_shape_input(name, lo, opt, hi)
            config.add_optimization_profile(profile)
        engine = self.builder.build_serialized_network(self.network, config)
        assert engine is not None, "TensorRT refused to build the network"
        return engine

    @property
    def profile(self) -> Dict[str, Tuple[Sequence[int], Sequence[int], Sequence[int]]]:
        """The optimization profile build() uses (the executor refuses inputs outside it)."""
        return {**self.ranges, **self.shape_ranges}

    def run(self, **feeds: torch.Tensor) -> Dict[str, torch.Tensor]:
        return execute_network(self.network, feeds, profile=self.profile)

    def run1(self, **feeds: torch.Tensor) -> torch.Tensor:
        outputs = self.run(**feeds)
        assert len(outputs) == 1
        return next(iter(outputs.values()))


def assert_close(actual: torch.Tensor, expected, *, rtol: float = 1e-5, atol: float = 1e-5) -> None:
    expected_t = torch.as_tensor(np.array(expected)) if not isinstance(expected, torch.Tensor) else expected
    assert tuple(actual.shape) == tuple(expected_t.shape), (tuple(actual.shape), tuple(expected_t.shape))
    if actual.dtype == torch.bool or not actual.dtype.is_floating_point:
        assert torch.equal(actual.to(torch.int64), expected_t.to(torch.int64)), (actual, expected_t)
        return
    torch.testing.assert_close(actual.double(), expected_t.double(), rtol=rtol, atol=atol, equal_nan=True)


def rand(shape: Iterable[int], dtype: torch.dtype = torch.float32, seed: int = 0, low: float = -3.0,
         high: float = 3.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    shape = tuple(shape)
    if dtype == torch.bool:
        return torch.rand(shape, generator=g) > 0.5
    if dtype.is_floating_point:
        return (torch.rand(shape, generator=g, dtype=torch.float64) * (high - low) + low).to(dtype)
    return torch.randint(int(low), int(high) + 1, shape, generator=g, dtype=torch.int64).to(dtype)
