"""What the dyn lowering could not translate, with the user's source line for each entry."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from .toolbox import source_location  # noqa: F401  (re-exported: trt_dyn.lowering.report.source_location)


@dataclass(frozen=True)
class MissingEntry:
    """One node that received a symbolic value the dyn IR cannot express."""

    op: str          #: the target, e.g. ``aten.roll.default``
    node: str        #: FX node name
    argument: str    #: the symbolic argument, e.g. ``shifts=[s0//2, 3]``
    source: str      #: ``file:line`` of the user's call, or ``<unknown>``
    code: str = ""   #: that source line
    reason: str = ""
    #: True when PyTorch cannot take the node either ("warn" mode refuses it too), e.g. an input
    #: torch.export specialised: no segment of the compiled module would ever read it
    refused: bool = False

    @property
    def line(self) -> Optional[int]:
        _, _, line = self.source.rpartition(":")
        return int(line) if line.isdigit() else None

    @property
    def file(self) -> str:
        return self.source.rpartition(":")[0] if self.line is not None else self.source


@dataclass
class DynReport:
    """Result of analysing (or lowering) a graph: ``ok`` when every symbolic use has a dyn variant."""

    dynamic: bool = False
    missing: List[MissingEntry] = field(default_factory=list)
    #: static target -> count of nodes rewritten to dyn ops
    rewritten: Dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.missing

    def __bool__(self) -> bool:  # a report is truthy when the graph is fully covered
        return self.ok

    def __str__(self) -> str:
        if not self.dynamic and self.ok:
            return "trt_dyn report: no graph input has a symbolic dimension; nothing to lower."
        lines = []
        if self.rewritten:
            done = ", ".join(f"{op} x{n}" for op, n in sorted(self.rewritten.items()))
            lines.append(f"trt_dyn report: rewritten to dyn ops: {done}")
        if self.ok:
            lines.append("trt_dyn report: OK, every symbolic value reaches a dyn op.")
            return "\n".join(lines)
        lines.append(f"trt_dyn report: {len(self.missing)} node(s) cannot be built exactly by TensorRT:")
        header = ("op", "node", "symbolic argument", "source", "reason")
        rows = [(m.op, m.node, m.argument, m.source + (f"  {m.code}" if m.code else ""), m.reason)
                for m in self.missing]
        widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
        fmt = " | ".join(f"{{:<{w}}}" for w in widths)
        lines.append(fmt.format(*header))
        lines.append("-+-".join("-" * w for w in widths))
        lines.extend(fmt.format(*row) for row in rows)
        if all(m.refused for m in self.missing):
            return "\n".join(lines)
        lines.append("Add a row to trt_dyn/lowering/translation_map.py (see docs/dyn_ir.md), or set "
                     "trt_dyn.lowering.set_on_missing('warn') / TRT_DYN_ON_MISSING=warn to leave these to PyTorch"
                     + (" (the rows marked refused cannot be left to PyTorch)." if any(m.refused for m in self.missing)
                        else "."))
        return "\n".join(lines)


class MissingDynVariantError(RuntimeError):
    """Raised before any converter runs when a dynamic graph uses ops with no dyn variant."""

    def __init__(self, report: DynReport):
        self.report = report
        super().__init__(str(report))
