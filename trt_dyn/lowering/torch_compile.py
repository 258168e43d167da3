"""torch.compile path: ``.contiguous()`` survives torch_tensorrt's pre-AOT ``.item()`` folding.

Before AOT export, torch_tensorrt's torch.compile backend runs ``fold_get_attr_item_calls``, which first
deletes EVERY ``clone`` / ``contiguous`` / ``detach`` of the dynamo graph so that ``param.item()`` sees
its parameter. ``contiguous()`` is not an identity where a ``view`` follows it: ViTDet's window partition
(``x.permute(...).contiguous().view(-1, ws, ws, C)``) then fails to trace ("Cannot view a tensor with
shape ...") and the compile aborts. :func:`install` narrows the stripping to the chains that end in an
``.item()`` call, which is all the folding needs; the copies stay where anything else reads them.
"""

from __future__ import annotations

from typing import Any, Callable

import torch

from .._hooks import narrow_item_folding


def _is_identity(node: Any, methods: Any, functions: Any) -> bool:
    return isinstance(node, torch.fx.Node) and bool(node.args) and isinstance(node.args[0], torch.fx.Node) and (
        (node.op == "call_method" and node.target in methods) or
        (node.op == "call_function" and node.target in functions))


def _bypass_identities_before_item(methods: Any, functions: Any) -> Callable[[torch.fx.GraphModule], bool]:
    def bypass_identities_before_item(gm: torch.fx.GraphModule) -> bool:
        """Point each ``.item()`` at the tensor behind its clone / contiguous / detach chain; delete nothing."""
        modified = False
        for node in gm.graph.nodes:
            if node.op != "call_method" or node.target != "item" or not node.args:
                continue
            source = node.args[0]
            while _is_identity(source, methods, functions):
                source = source.args[0]
            if source is not node.args[0]:
                node.args = (source,) + tuple(node.args[1:])
                modified = True
        return modified

    return bypass_identities_before_item


def install() -> None:
    """Replace the identity stripping of torch_tensorrt's ``fold_get_attr_item_calls`` (idempotent)."""
    narrow_item_folding(_bypass_identities_before_item)
