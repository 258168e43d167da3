"""``trt-dyn``: the command line.

``trt-dyn report PROGRAM.pt2 [--json]`` loads a program saved with ``torch.export.save`` and prints
what the dyn lowering would rewrite and what it is missing (``trt_dyn.report``), as a table or as
JSON. The exit status is 0 when every symbolic value reaches a dyn op (or nothing is dynamic), 1
when some op has no dyn variant, 2 when the program cannot be read.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from typing import List, Optional


def _report_as_dict(result) -> dict:
    return {
        "dynamic": result.dynamic,
        "ok": result.ok,
        "rewritten": dict(sorted(result.rewritten.items())),
        "missing": [dict(dataclasses.asdict(entry), file=entry.file, line=entry.line) for entry in result.missing],
    }


def _report(args: argparse.Namespace) -> int:
    import torch

    import trt_dyn

    try:
        program = torch.export.load(args.program)
    except Exception as error:  # a bad path or a file that is not a saved ExportedProgram
        print(f"trt-dyn report: cannot load {args.program}: {type(error).__name__}: {error}", file=sys.stderr)
        return 2
    result = trt_dyn.report(program)
    print(json.dumps(_report_as_dict(result), indent=2) if args.json else str(result))
    return 0 if result.ok else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="trt-dyn", description=__doc__.split("\n\n")[0].strip())
    commands = parser.add_subparsers(dest="command", required=True)
    report = commands.add_parser(
        "report", help="which ops of a saved dynamic program have no dyn variant (with node and source line)")
    report.add_argument("program", help="a program saved with torch.export.save (.pt2)")
    report.add_argument("--json", action="store_true", help="print the report as JSON")
    report.set_defaults(run=_report)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
