"""Conversion errors that say which op, which FX node and which line of the model failed.

Every trt_dyn converter raises :class:`ConverterError` (through :func:`fail`) for input it cannot
convert exactly, instead of building a network that would compute something else.
"""

from __future__ import annotations

from typing import Any, Optional

import torch

from .._hooks import converting_node
from ..lowering.toolbox import source_location


def node_source_line(node: Optional[torch.fx.Node]) -> str:
    """``file:line: code`` of the user's call that made the node (the lowering report's locator), or '' when
    export kept no stack trace."""
    if node is None:
        return ""
    where, code = source_location(node.meta.get("stack_trace"))
    if where == "<unknown>":
        return ""
    return f"{where}: {code}" if code else where


class ConverterError(RuntimeError):
    """A trt_dyn converter refused a node; the message names op, node and source line."""

    def __init__(self, op: str, node_name: str, source: str, message: str):
        self.op = op
        self.node_name = node_name
        self.source = source
        where = f" at {source}" if source else ""
        super().__init__(f"{op} (node '{node_name}'{where}): {message}")


def find_converter_error(error: Optional[BaseException]) -> Optional[ConverterError]:
    """The ConverterError behind ``error`` (torch_tensorrt wraps converter errors in its own), or None."""
    while error is not None and not isinstance(error, ConverterError):
        error = error.__cause__ or error.__context__
    return error


def fail(ctx: Any, target: Any, name: str, message: str) -> ConverterError:
    """Build the error for the node being converted; use as ``raise fail(ctx, target, name, msg)``."""
    node = converting_node(ctx)
    op = str(target) if target is not None else "<unknown op>"
    node_name = node.name if node is not None else name
    return ConverterError(op, node_name, node_source_line(node), message)


__all__ = ["ConverterError", "fail", "find_converter_error", "node_source_line"]
