"""What a converter test inspects or switches around the compile: layer types of the built networks,
and conversion by torch_tensorrt's own converters only."""

from __future__ import annotations

import collections
import contextlib
from typing import Any


@contextlib.contextmanager
def upstream_converters_only() -> Any:
    """Inside the block torch_tensorrt converts with its own converters only.

    trt_dyn's converters are taken out of torch_tensorrt's registry (those registered for ``aten``
    or ``torchvision`` ops too, which would otherwise win by priority) and the trt_dyn lowering is
    switched off; both are restored on exit. Used to test the executor against upstream behaviour
    and to reproduce upstream partitioning (e.g. roi_align, which upstream cannot convert).
    """
    from ... import lowering
    from ..._hooks import without_converters

    was_enabled = lowering.is_enabled()
    lowering.set_enabled(False)
    try:
        with without_converters(lambda implementation: implementation.__module__.startswith("trt_dyn")):
            yield
    finally:
        lowering.set_enabled(was_enabled)


def network_layer_types(network: Any) -> "collections.Counter[str]":
    """How many layers of each ``trt.LayerType`` (by name, e.g. ``"CONVOLUTION"``) the network has."""
    counts: "collections.Counter[str]" = collections.Counter()
    for index in range(network.num_layers):
        counts[network.get_layer(index).type.name] += 1
    return counts


__all__ = ["network_layer_types", "upstream_converters_only"]
