"""Importing trt_dyn twice, or after torch_tensorrt, is harmless."""

import subprocess
import sys
import textwrap


def _run(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return result.stdout


def _registry_snapshot_code() -> str:
    return """
        def snapshot():
            import torch_tensorrt.dynamo.conversion._ConverterRegistry as registry
            from torch_tensorrt.dynamo.lowering.passes import _aten_lowering_pass as passes
            converters = sum(len(v) for v in registry.DYNAMO_ATEN_CONVERTERS.values())
            lowering = len(passes.ATEN_POST_LOWERING_PASSES.passes)
            return converters, lowering
    """


def test_import_twice_and_reload_register_once():
    out = _run(
        _registry_snapshot_code()
        + """
        import importlib
        import trt_dyn
        first = snapshot()
        import trt_dyn
        for name in ("trt_dyn.ops", "trt_dyn.converters", "trt_dyn.lowering"):
            importlib.reload(importlib.import_module(name))
        assert snapshot() == first, (first, snapshot())
        print("same", first)
        """
    )
    assert "same" in out


def test_import_after_torch_tensorrt():
    # torch_tensorrt needs a device query to import; emulate the user's GPU machine by answering it
    # before torch_tensorrt is imported, then import trt_dyn afterwards.
    out = _run(
        _registry_snapshot_code()
        + """
        import torch
        if not torch.cuda.is_available():
            torch.cuda.get_device_capability = lambda device=None: (8, 9)
            torch.cuda.current_device = lambda: 0
        import torch_tensorrt
        before = snapshot()
        import trt_dyn
        after = snapshot()
        import trt_dyn
        assert snapshot() == after
        assert after[0] >= before[0]
        print("ok", before, after)
        """
    )
    assert "ok" in out


def test_import_without_torchvision():
    # torchvision is a test extra, not a runtime dependency: only the roi_align converter needs it.
    out = _run(
        """
        import importlib.abc, sys

        class HideTorchvision(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path, target=None):
                if name == "torchvision" or name.startswith("torchvision."):
                    raise ModuleNotFoundError(f"No module named {name!r}")

        sys.meta_path.insert(0, HideTorchvision())
        import importlib.util
        real_find_spec = importlib.util.find_spec
        importlib.util.find_spec = lambda name, *a: None if name == "torchvision" else real_find_spec(name, *a)
        import trt_dyn
        assert "torchvision" not in sys.modules
        assert "trt_dyn.converters.roi_align" not in sys.modules
        import torch
        assert hasattr(torch.ops.trt_dyn, "reshape_dyn")
        print("imported")
        """
    )
    assert "imported" in out


def test_without_torch_tensorrt_the_import_error_names_both_flavours():
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent("""
            import sys
            sys.modules["torch_tensorrt"] = None   # what a bare `pip install trt_dyn` leaves
            import trt_dyn
        """)], capture_output=True, text=True, timeout=300,
    )
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: trt_dyn needs torch_tensorrt"), last
    assert "trt_dyn[rtx]" in last and "trt_dyn[trt]" in last


def test_submodules_are_reachable_after_import_trt_dyn():
    out = _run("""
        import trt_dyn
        print(callable(trt_dyn.build.build_engine), trt_dyn.__version__)
    """)
    assert out.split() == ["True", "0.1.0"]
