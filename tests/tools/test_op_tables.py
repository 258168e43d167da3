"""tools/op_tables.py --check: docs/dyn_ir.md's op and translation-map tables are what the code defines."""

import importlib.util
from pathlib import Path

import trt_dyn  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]


def load_tool():
    spec = importlib.util.spec_from_file_location("op_tables", ROOT / "tools" / "op_tables.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_docs_tables_are_current(capsys):
    assert load_tool().main(["--check"]) == 0, capsys.readouterr().err


def test_check_fails_on_a_stale_table_and_regenerating_fixes_it(tmp_path, monkeypatch, capsys):
    tool = load_tool()
    stale = tmp_path / "dyn_ir.md"
    text = (ROOT / "docs" / "dyn_ir.md").read_text()
    row = next(line for line in text.splitlines() if line.startswith("| `aten.reflection_pad2d.default`"))
    stale.write_text(text.replace(row + "\n", ""))
    monkeypatch.setattr(tool, "DOC", str(stale))
    assert tool.main(["--check"]) == 1
    assert "out of date (rules)" in capsys.readouterr().err
    assert tool.main([]) == 0 and tool.main(["--check"]) == 0
    assert stale.read_text() == text


def test_every_op_and_row_is_in_the_docs():
    from trt_dyn.lowering.translation_map import RULES
    from trt_dyn.ops import ALL_OPS

    text = (ROOT / "docs" / "dyn_ir.md").read_text()
    assert all(f"| `{name}` | `{name}(" in text for name in ALL_OPS)
    assert len([line for line in text.splitlines() if line.startswith("| `aten.")]) >= len(RULES)
    assert "| `reflection_pad_dyn` |" in text and "| no (Python only) |" in text
