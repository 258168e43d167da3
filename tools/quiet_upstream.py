"""Filter for ``./dev demo``: upstream warnings counted by kind, everything else passed through as it comes.

``./dev demo`` pipes the demo's stdout and stderr through this script. Lines from torch, torch_tensorrt,
TensorRT and modelopt that say nothing about the run (no CUDA device on a CPU machine, modelopt not installed,
deprecations inside torch, TensorRT builder notes) are counted by kind and summarised at the end; trt_dyn's own
progress, tables, errors and tracebacks are printed unchanged. ``./dev demo --verbose`` skips the filter.
It imports nothing from trt_dyn (it must start before the demo's first line).
"""

from __future__ import annotations

import collections
import re
import sys
from typing import Iterable, List, Optional, TextIO, Tuple

#: (kind shown in the summary, pattern of the first line); a matching Python warning's echoed source line
#: (the indented line after it) is counted with it
KINDS: List[Tuple[str, "re.Pattern[str]"]] = [
    ("Torch-TensorRT: no CUDA device (expected: engines are built on the CPU)",
     re.compile(r"^WARNING: \[Torch-TensorRT\] - Unable to read CUDA capable devices")),
    ("torch_tensorrt: modelopt not installed (only quantized models need it)",
     re.compile(r"^Unable to import quantiz\w* op\. Please install modelopt")),
    ("torch_tensorrt logger warnings",
     re.compile(r"^WARNING:torch_tensorrt[\w.]*:")),
    ("TensorRT logger warnings",
     re.compile(r"^(\[\d\d/\d\d/\d{4}-\d\d:\d\d:\d\d\] )?\[TRT\] \[W\]|^WARNING: \[Torch-TensorRT\] - ")),
    ("torch log lines (W/I: deprecations, dynamo and export notes)",
     re.compile(r"^[WI]\d{4} \d\d:\d\d:\d\d\.\d+\s+\d+ \S+\] ")),
    ("Python warnings raised inside torch / torch_tensorrt / torchvision",
     re.compile(r"/site-packages/(torch|torch_tensorrt|torchvision|tensorrt\w*|modelopt)/\S*:\d+: \w*Warning: ")),
]


def classify(line: str) -> Optional[str]:
    for kind, pattern in KINDS:
        if pattern.search(line):
            return kind
    return None


def summarise(lines: Iterable[str], out: TextIO) -> "collections.Counter[str]":
    """Write the lines that are not upstream noise to ``out`` as they come; return the counts of the rest."""
    counts: "collections.Counter[str]" = collections.Counter()
    # a Python warning's display continues with the echoed source line; through logging (py.warnings) an empty
    # line follows it
    continuation = ""
    for line in lines:
        if continuation == "source" and line.startswith("  "):
            continuation = "blank"
            continue
        if continuation == "blank" and not line.strip():
            continuation = ""
            continue
        kind = classify(line)
        continuation = "source" if kind is not None and kind.startswith("Python warnings") else ""
        if kind is None:
            out.write(line)
            out.flush()
        else:
            counts[kind] += 1
    if counts:
        out.write(f"\nupstream messages summarised ({sum(counts.values())} lines; ./dev demo --verbose shows them):\n")
        for kind, count in counts.most_common():
            out.write(f"  {count:5d} x {kind}\n")
        out.flush()
    return counts


if __name__ == "__main__":
    summarise(sys.stdin, sys.stdout)
