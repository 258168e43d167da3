"""A look at what torch_tensorrt's pre-export lowering hands its passes, for the tests of the hook and of report()."""

import contextlib
from typing import Any, Iterator, List, Tuple

from trt_dyn import _hooks


@contextlib.contextmanager
def pre_export_spy() -> Iterator[List[Tuple[Any, Any, list]]]:
    """Appends a pass to the live pre-export list for the duration; yields its calls as
    ``(graph module, settings, node targets at that moment)``, in call order."""
    calls: List[Tuple[Any, Any, list]] = []

    def spy(gm: Any, settings: Any) -> Any:
        calls.append((gm, settings, [node.target for node in gm.graph.nodes]))
        return gm

    passes = _hooks.pre_export_passes()
    passes.append(spy)
    try:
        yield calls
    finally:
        passes.remove(spy)
