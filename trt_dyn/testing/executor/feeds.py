"""What an executor accepts as inputs: the network's declared names, dtypes and shapes, and (given)
the optimization profile an engine would run with."""

from __future__ import annotations

from typing import Any, Dict, Mapping

import torch

from .dtypes import to_torch_dtype
from .errors import ExecutorInputError


class InputChecks:
    """Input validation of :class:`~.core.NetworkExecutor` (a mixin: reads ``input_names``,
    ``input_specs`` and ``shape_tensor_inputs`` set by the executor's constructor)."""

    def _check_inputs(self, feeds: Mapping[str, Any]) -> Dict[str, torch.Tensor]:
        unknown = [name for name in feeds if name not in self.input_specs]
        if unknown:
            raise ExecutorInputError(
                unknown[0], f"not an input of the network (inputs: {self.input_names})"
            )
        values = {}
        for name in self.input_names:
            if name not in feeds:
                raise ExecutorInputError(name, "missing")
            value = feeds[name]
            if not isinstance(value, torch.Tensor):
                raise ExecutorInputError(name, f"expected a torch.Tensor, got {type(value).__name__}")
            declared, trt_dtype = self.input_specs[name]
            want = to_torch_dtype(trt_dtype)
            if value.dtype != want:
                raise ExecutorInputError(name, f"dtype {value.dtype} but the network declares {want}")
            shape = tuple(value.shape)
            if len(shape) != len(declared) or any(d != -1 and d != s for d, s in zip(declared, shape)):
                raise ExecutorInputError(
                    name, f"shape {shape} does not match the declared shape {declared} (-1 = dynamic)"
                )
            values[name] = value.detach().to("cpu")
        return values

    def _check_profile(self, values: Mapping[str, torch.Tensor], profile: Mapping[str, Any]) -> None:
        """Refuse what an engine built with ``profile`` refuses: an input dim outside the profile's
        [min, max] (IExecutionContext.set_input_shape fails), a shape-tensor input value outside its
        profile values."""
        for name in self.input_names:
            if name not in profile:
                continue
            low, _, high = (tuple(int(v) for v in bound) for bound in profile[name])
            value = values[name]
            declared = self.input_specs[name][0]
            # A static input's profile entry holds values unless it is its own shape (TensorRT
            # marks some inputs read as shapes, e.g. trip counts, as shape tensors only at build).
            by_value = name in self.shape_tensor_inputs or (-1 not in declared and low != declared)
            if by_value:
                given = tuple(int(v) for v in value.reshape(-1).tolist())
                what = "value"
            else:
                given = tuple(value.shape)
                what = "shape"
            if len(given) != len(low) or any(not lo <= g <= hi for g, lo, hi in zip(given, low, high)):
                raise ExecutorInputError(
                    name,
                    f"{what} {given} is outside the optimization profile (min {low}, max {high}); "
                    "a TensorRT engine built with this profile refuses it",
                )
