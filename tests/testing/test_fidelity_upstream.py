"""Executor fidelity: torch_tensorrt's OWN converters, run through the CPU executor, against eager.

Every case (``trt_dyn/testing/fidelity_cases.py``) is one aten op converted by torch_tensorrt's upstream
converters only (the trt_dyn lowering is switched off and no ``trt_dyn`` op may appear in a converted segment).
Each case names the TensorRT layer types its network must contain; the test asserts they are there, so the suite
demonstrably covers each executor layer. The last test checks that the table ``tools/fidelity_table.py`` writes
into ``docs/testing.md`` is what these runs give (``python tools/fidelity_table.py`` regenerates it).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from trt_dyn.testing.fidelity_cases import CASES, run_case
from trt_dyn.testing.harness import assert_layer_types, upstream_converters_only

ROOT = Path(__file__).resolve().parents[2]
#: per case, what tools/fidelity_table.py records (filled as the cases run)
RECORDS = {}


@pytest.fixture(scope="module", autouse=True)
def only_upstream_converters():
    with upstream_converters_only():
        yield


def load_table_tool():
    spec = importlib.util.spec_from_file_location("fidelity_table", ROOT / "tools" / "fidelity_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("case", [pytest.param(case, id=case.id, marks=list(case.marks)) for case in CASES])
def test_upstream_converter_matches_eager(case):
    record = {"case": case.id, "ops": list(case.ops), "asserted": list(case.layers)}
    try:
        result = run_case(case)
    except Exception as error:
        RECORDS[case.id] = {**record, "status": type(error).__name__,
                            "layers": load_table_tool().built_layers(case)}
        raise
    RECORDS[case.id] = {**record, "status": "pass", "layers": dict(sorted(result.layer_types.items()))}
    assert_layer_types(result, *case.layers)
    converted = {op.rsplit(".", 1)[0] for op in result.converted_ops}
    missing = [op for op in case.ops if op not in converted and not op.endswith("sym_size")]
    assert not missing, f"{case.id}: ops {missing} were not converted; converted {sorted(converted)}"


def test_cases_cover_sixty_ops_and_the_layer_types():
    ops = {op for case in CASES for op in case.ops}
    assert len(ops) >= 60, len(ops)
    layers = {layer for case in CASES for layer in case.layers}
    assert len(layers) >= 25, sorted(layers)


def test_docs_table_is_current():
    """tools/fidelity_table.py --check, from the runs above (no second run of the 89 cases)."""
    if set(RECORDS) != {case.id for case in CASES}:
        pytest.skip("the docs table is checked when every case of this module ran")
    tool = load_table_tool()
    table = tool.render([RECORDS[case.id] for case in CASES])
    assert tool.current_table() == table, "docs/testing.md is out of date: run python tools/fidelity_table.py"
