"""Guards around torch_tensorrt post-lowering passes that cannot take symbolic arguments.

``fuse_pad_into_convolution`` folds ``constant_pad_nd -> convolution`` into a convolution with asymmetric
padding. It compares each pad amount with 0, which raises ``TypeError`` when an amount is a SymInt node
(timm's ``dynamic_img_pad``: ``pad = (patch - W % patch) % patch``), before any trt_dyn pass can run. Such a pad
cannot become static convolution padding anyway, so the guard hides pads with symbolic amounts from the
pass (their target is swapped for the pass's duration) and lets it fuse the static ones as before; the dyn
lowering later turns the symbolic pads into ``pad_dyn``.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, List

import torch
from torch.fx import GraphModule, Node

_PAD = torch.ops.aten.constant_pad_nd.default


def _hidden_pad(*args: Any, **kwargs: Any) -> Any:  # stands in for constant_pad_nd while a guarded pass runs
    return _PAD(*args, **kwargs)


def _has_symbolic_amount(node: Node) -> bool:
    pads = node.args[1] if len(node.args) > 1 else node.kwargs.get("pad", ())
    return any(isinstance(amount, Node) for amount in pads)


def skipping_symbolic_pads(upstream_pass: Callable[..., GraphModule]) -> Callable[..., GraphModule]:
    """``upstream_pass`` run with every ``constant_pad_nd`` that has a symbolic amount hidden from it."""
    if getattr(upstream_pass, "_trt_dyn_guarded", False):
        return upstream_pass

    @functools.wraps(upstream_pass)
    def guarded(gm: GraphModule, *args: Any, **kwargs: Any) -> GraphModule:
        hidden: List[Node] = [n for n in gm.graph.nodes
                              if n.op == "call_function" and n.target is _PAD and _has_symbolic_amount(n)]
        for node in hidden:
            node.target = _hidden_pad
        try:
            result = upstream_pass(gm, *args, **kwargs)
        finally:
            for node in hidden:
                node.target = _PAD
        if hidden:
            gm.recompile()
        return result

    guarded._trt_dyn_guarded = True
    return guarded


#: upstream post-lowering pass name -> the guard it runs under (applied by :func:`trt_dyn.lowering.pipeline.register`)
UPSTREAM_GUARDS = {"fuse_pad_into_convolution": skipping_symbolic_pads}

