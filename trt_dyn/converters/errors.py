"""Conversion errors that say which op, which FX node and which line of the model failed.

Every trt_dyn converter raises :class:`ConverterError` (through :func:`fail`) for input it cannot
convert exactly, instead of building a network that would compute something else.
"""

from __future__ import annotations

from typing import Any, Optional

import torch


def node_source_line(node: Optional[torch.fx.Node]) -> str:
    """The innermost ``File ..., line ...`` of the node's stack trace, or '' when export kept none."""
    if node is None:
        return ""
    trace = node.meta.get("stack_trace") or ""
    frames = [line.strip() for line in trace.splitlines() if line.strip().startswith("File ")]
    if not frames:
        return ""
    lines = trace.splitlines()
    # The frame line is followed by the code line itself; keep both, they identify the call site.
    last = frames[-1]
    for index, line in enumerate(lines):
        if line.strip() == last and index + 1 < len(lines):
            return f"{last}: {lines[index + 1].strip()}"
    return last


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
    node = getattr(ctx, "current_node", None)
    op = str(target) if target is not None else "<unknown op>"
    node_name = node.name if node is not None else name
    return ConverterError(op, node_name, node_source_line(node), message)


__all__ = ["ConverterError", "fail", "find_converter_error", "node_source_line"]
