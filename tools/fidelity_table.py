"""Regenerate the layer-type coverage table of docs/testing.md from the fidelity suite's cases.

Runs every case of ``trt_dyn/testing/fidelity_cases.py`` exactly as ``tests/testing/test_fidelity_upstream.py`` does (torch_tensorrt's
upstream converters, CPU executor, comparison with eager), records the TensorRT layer types of each
built network and rewrites the block between the ``fidelity-table`` markers of docs/testing.md.

    python tools/fidelity_table.py            # rewrite docs/testing.md
    python tools/fidelity_table.py --check    # exit 1 if docs/testing.md is out of date
    python tools/fidelity_table.py --json out.json
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
from typing import Dict, List

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOC = os.path.join(ROOT, "docs", "testing.md")
BEGIN = "<!-- fidelity-table:begin (tools/fidelity_table.py) -->"
END = "<!-- fidelity-table:end -->"


def collect() -> List[Dict[str, object]]:
    sys.path.insert(0, ROOT)
    import trt_dyn  # noqa: F401  (shim before torch_tensorrt)
    from trt_dyn.testing import fidelity_cases as suite

    from trt_dyn.testing.harness import upstream_converters_only

    records = []
    with upstream_converters_only():
        for case in suite.CASES:
            record: Dict[str, object] = {"case": case.id, "ops": list(case.ops), "asserted": list(case.layers)}
            try:
                result = suite.run_case(case)
                record["layers"] = dict(sorted(result.layer_types.items()))
                record["status"] = "pass"
            except Exception as err:  # recorded, not hidden: the table shows the status
                record["status"] = f"{type(err).__name__}"
                record["layers"] = built_layers(case)
            records.append(record)
            print(f"{case.id:24s} {record['status']}", file=sys.stderr)
    return records


def built_layers(case) -> Dict[str, int]:
    """Layer types of a case's networks, built again without running them (for failing cases)."""
    from trt_dyn.testing.compile_cpu import compile_cpu
    from trt_dyn.testing.harness import export_dynamic, network_layer_types

    try:
        program = export_dynamic(case.make().eval(), case.inputs(), case.dynamic)
        compiled = compile_cpu(program, min_block_size=1, require_full_compilation=True)
    except Exception:
        return {}
    total: Dict[str, int] = collections.Counter()
    for engine in compiled.engines:
        total.update(network_layer_types(engine.network))
    return dict(sorted(total.items()))


def render(records: List[Dict[str, object]]) -> str:
    asserted: Dict[str, List[str]] = collections.defaultdict(list)
    present: Dict[str, List[str]] = collections.defaultdict(list)
    for record in records:
        label = record["case"] if record["status"] == "pass" else f"{record['case']} ({record['status']})"
        for layer in record["asserted"]:
            asserted[layer].append(str(label))
        for layer in record["layers"]:
            if layer not in record["asserted"]:
                present[layer].append(str(record["case"]))
    from trt_dyn._trt import trt

    lines = [
        BEGIN,
        "",
        "| TensorRT layer type | cases asserting it | also in the networks of |",
        "| --- | --- | --- |",
    ]
    for layer in sorted(trt.LayerType.__members__):
        if layer not in asserted and layer not in present:
            lines.append(f"| {layer} | — (no case reaches it through upstream converters) | |")
            continue
        first = ", ".join(asserted.get(layer, [])) or "—"
        also = present.get(layer, [])
        shown = ", ".join(also[:8]) + (f" … (+{len(also) - 8})" if len(also) > 8 else "")
        lines.append(f"| {layer} | {first} | {shown} |")
    ops = sorted({op for record in records for op in record["ops"]})
    passed = sum(record["status"] == "pass" for record in records)
    lines += [
        "",
        f"{len(records)} cases ({passed} passing), {len(ops)} distinct aten ops: " + ", ".join(f"`{op}`" for op in ops) + ".",
        "",
        END,
    ]
    return "\n".join(lines)


def current_table() -> str:
    """The table block docs/testing.md holds now (markers included)."""
    with open(DOC) as handle:
        text = handle.read()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{DOC} has no {BEGIN} ... {END} block")
    return BEGIN + text.split(BEGIN, 1)[1].split(END, 1)[0] + END


def main(argv: List[str] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="fail if docs/testing.md differs")
    parser.add_argument("--json", help="also write the per-case records here")
    args = parser.parse_args(argv)
    records = collect()
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(records, handle, indent=1)
    table = render(records)
    with open(DOC) as handle:
        text = handle.read()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{DOC} has no {BEGIN} ... {END} block")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    updated = head + table + tail
    if args.check:
        if updated != text:
            print("docs/testing.md is out of date: run python tools/fidelity_table.py", file=sys.stderr)
            return 1
        return 0
    with open(DOC, "w") as handle:
        handle.write(updated)
    return 0


if __name__ == "__main__":
    sys.exit(main())
