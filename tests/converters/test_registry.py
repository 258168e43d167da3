"""Every trt_dyn op has a dynamic-shape converter from trt_dyn.converters, first in the registry."""

from torch_tensorrt.dynamo.conversion._ConverterRegistry import DYNAMO_ATEN_CONVERTERS

import trt_dyn
from trt_dyn.ops import ALL_OPS

# Converted by the data-dependent selection work (trt_dyn/converters/selection.py).
OWNED_ELSEWHERE = {"topk_dyn"}


def test_every_dyn_op_has_a_dynamic_converter():
    missing, wrong = [], []
    for name, overload in sorted(ALL_OPS.items()):
        if name in OWNED_ELSEWHERE:
            continue
        entries = DYNAMO_ATEN_CONVERTERS.get(overload)
        if not entries:
            missing.append(name)
            continue
        first = entries[0]
        module = first.converter_implementation.__module__
        if not module.startswith("trt_dyn.converters.") or not first.supports_dynamic_shapes:
            wrong.append((name, module, first.supports_dynamic_shapes))
    assert not missing, f"no converter for {missing}"
    assert not wrong, f"unexpected first converter: {wrong}"
