"""The no-GPU shim: active only without a CUDA device, narrow, reversible."""

import subprocess
import sys
import textwrap

import torch

import trt_dyn
from trt_dyn import no_gpu


# Loads trt_dyn/no_gpu.py alone: importing the package would already import torch_tensorrt.
LOAD_SHIM_ALONE = f"""
import importlib.util
_spec = importlib.util.spec_from_file_location("shim_under_test", {no_gpu.__file__!r})
no_gpu = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(no_gpu)
"""


def _run(*parts: str) -> subprocess.CompletedProcess:
    code = "\n".join(textwrap.dedent(part) for part in parts)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)


def test_shim_active_here_because_no_cuda_device():
    assert not torch.cuda.is_available()
    assert no_gpu.is_active()
    assert torch.cuda.current_device() == 0
    available, total = torch.cuda.mem_get_info()
    assert 0 < available <= total


def test_shim_stays_inactive_when_a_device_is_reported():
    result = _run(
        """
        import torch
        torch.cuda.is_available = lambda: True
        originals = (torch.cuda.get_device_capability, torch.cuda.current_device, torch.cuda.mem_get_info)
        """,
        LOAD_SHIM_ALONE,
        """
        assert no_gpu.install() is False
        assert not no_gpu.is_active()
        assert (torch.cuda.get_device_capability, torch.cuda.current_device, torch.cuda.mem_get_info) == originals
        print("inactive")
        """
    )
    assert result.returncode == 0, result.stderr
    assert "inactive" in result.stdout


def test_shim_can_be_forbidden_by_environment():
    result = _run(
        """
        import os
        os.environ["TRT_DYN_NO_GPU_SHIM"] = "0"
        """,
        LOAD_SHIM_ALONE,
        """
        assert no_gpu.install() is False and not no_gpu.is_active()
        print("forbidden")
        """
    )
    assert result.returncode == 0, result.stderr
    assert "forbidden" in result.stdout


def test_uninstall_restores_every_original():
    result = _run(
        """
        import torch
        before = (torch.cuda.get_device_capability, torch.cuda.current_device, torch.cuda.mem_get_info)
        import trt_dyn
        from trt_dyn import no_gpu
        runtime_before = no_gpu._originals[(trt_dyn.trt.Runtime, "deserialize_cuda_engine")]
        restored = no_gpu.uninstall()
        assert len(restored) == 4, restored
        assert (torch.cuda.get_device_capability, torch.cuda.current_device, torch.cuda.mem_get_info) == before
        assert trt_dyn.trt.Runtime.deserialize_cuda_engine is runtime_before
        print("restored")
        """
    )
    assert result.returncode == 0, result.stderr
    assert "restored" in result.stdout


def test_host_engine_keeps_bytes_and_refuses_execution():
    engine = no_gpu.HostEngine(b"\x01\x02\x03")
    assert engine.serialize() == b"\x01\x02\x03"
    assert engine.get_aliased_input_tensor("out") is None
    try:
        engine.create_execution_context()
    except RuntimeError as err:
        assert "create_execution_context" in str(err) and "CUDA device" in str(err)
    else:
        raise AssertionError("HostEngine must refuse to execute")


def test_target_capability_from_environment(monkeypatch):
    monkeypatch.setenv("TRT_DYN_TARGET_SM", "12.0")
    assert no_gpu.target_capability() == (12, 0)
    monkeypatch.setenv("TRT_DYN_TARGET_SM", "twelve")
    try:
        no_gpu.target_capability()
    except ValueError as err:
        assert "TRT_DYN_TARGET_SM" in str(err)
    else:
        raise AssertionError("a malformed TRT_DYN_TARGET_SM must raise")
