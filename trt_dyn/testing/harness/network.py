"""What a converter test inspects or switches around the compile: layer types of the built networks, their
dead layers, and conversion by torch_tensorrt's own converters only."""

from __future__ import annotations

import collections
import contextlib
import re
from dataclasses import dataclass
from typing import Any, Dict, List, Set


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


@dataclass(frozen=True)
class DeadLayer:
    """A layer of a network that nothing the network computes depends on."""

    name: str
    type: str
    #: the node whose converter added it, read from the layer name (see :func:`layer_node`)
    node: str

    def __str__(self) -> str:
        return f"{self.name} ({self.type}, node {self.node})"


# torch_tensorrt names its layers "[<LAYER TYPE>]-[<op>]-[<node>]" (set_layer_name); trt_dyn names them
# "[<fallback>:]<node>/<what>#<n>" (shape_tensor.name_layer, compaction's prefixes), where <node> is the name
# torch_tensorrt handed the converter ("<module path>/<FX node>", or the FX node alone) and may carry a
# sub-scope the converter added ("interpolate_aa_dyn_default/axis2").
_UPSTREAM_NAME = re.compile(r"^\[[^\]]*\]-\[[^\]]*\]-\[(.+)\]$")
_FALLBACK_PREFIX = re.compile(r"^[A-Za-z_]+:")
_NUMBERED_PART = re.compile(r"/[^/]*#\d+(/|$)")


def layer_node(layer_name: str) -> str:
    """The converter's node in a layer name (see the naming conventions above), or the whole name when it
    follows neither convention."""
    upstream = _UPSTREAM_NAME.match(layer_name)
    if upstream:
        return upstream.group(1)
    name = _FALLBACK_PREFIX.sub("", layer_name)
    numbered = _NUMBERED_PART.search(name)
    return name[:numbered.start()] if numbered else layer_name


def dead_layers(network: Any) -> List[DeadLayer]:
    """The layers of ``network`` whose outputs reach no network output, in network order.

    A layer is live when one of its outputs is marked as a network output, or when it has no output at all
    (assertions, loop trip limits, if-conditions act by themselves), or when an output of it is an input of a
    live layer. Everything else is dead: built and timed by the builder for nothing. The closure matters: a
    constant feeding only a dead elementwise is dead too, and listing both points at the converter that made
    the pair. Layer inputs are matched by tensor name (TensorRT keeps tensor names unique within a network).
    """
    layers = [network.get_layer(index) for index in range(network.num_layers)]
    producer: Dict[str, int] = {}
    for index, layer in enumerate(layers):
        for position in range(layer.num_outputs):
            producer[layer.get_output(position).name] = index
    live: Set[int] = set()
    pending = [index for index, layer in enumerate(layers) if layer.num_outputs == 0]
    pending += [producer[network.get_output(index).name] for index in range(network.num_outputs)
                if network.get_output(index).name in producer]
    while pending:
        index = pending.pop()
        if index in live:
            continue
        live.add(index)
        layer = layers[index]
        for position in range(layer.num_inputs):
            tensor = layer.get_input(position)
            # optional inputs left unset come back as None
            if tensor is not None and tensor.name in producer:
                pending.append(producer[tensor.name])
    return [DeadLayer(layer.name, layer.type.name, layer_node(layer.name))
            for index, layer in enumerate(layers) if index not in live]


__all__ = ["DeadLayer", "dead_layers", "layer_node", "network_layer_types", "upstream_converters_only"]
