"""trt_dyn/ops/_registry.py: every trt_dyn op is in ALL_OPS and says whether it has a C++ kernel."""

import pytest
import torch

import trt_dyn  # noqa: F401  (registers the ops)
from trt_dyn.ops import ALL_OPS, PYTHON_ONLY_OPS, cpp_kernel_ops
from trt_dyn.ops._registry import define


def registered_trt_dyn_ops():
    return {name.split("::")[1] for name in torch._C._dispatch_get_all_op_names() if name.startswith("trt_dyn::")}


def test_all_ops_lists_every_registered_op():
    assert set(ALL_OPS) == registered_trt_dyn_ops()
    assert {"nonzero_bounded", "batched_nms"} <= set(ALL_OPS)
    for name, overload in ALL_OPS.items():
        assert overload is getattr(torch.ops.trt_dyn, name).default


def test_cpp_kernel_ops_are_all_ops_but_the_python_only_ones():
    assert cpp_kernel_ops() == set(ALL_OPS) - PYTHON_ONLY_OPS
    assert PYTHON_ONLY_OPS <= set(ALL_OPS)


def test_define_refuses_a_second_definition_before_registering():
    before = dict(ALL_OPS)
    with pytest.raises(ValueError, match="trt_dyn::size_dyn is already defined"):
        define("size_dyn", "(Tensor self) -> Tensor", cpp_kernel=False)
    assert ALL_OPS == before and "size_dyn" not in PYTHON_ONLY_OPS


def test_new_shape_tensor_is_a_fake_of_the_active_mode_and_a_real_tensor_outside():
    from torch._subclasses.fake_tensor import FakeTensor, FakeTensorMode

    from trt_dyn.ops._registry import new_shape_tensor, recall, remember

    mode = FakeTensorMode()
    with mode:
        vector, scalar = new_shape_tensor((3,)), new_shape_tensor((), torch.float32)
        total = vector + scalar.long()  # the mode computes with it like with its own fakes
        first, second = new_shape_tensor(()), new_shape_tensor(())
    assert all(isinstance(t, FakeTensor) and t.fake_mode is mode and t.device.type == "cpu" for t in (vector, scalar))
    assert (tuple(vector.shape), vector.dtype, tuple(scalar.shape), scalar.dtype) == ((3,), torch.int64, (), torch.float32)
    assert isinstance(total, FakeTensor) and tuple(total.shape) == (3,)
    # symbolic values are remembered per fake tensor: every call is a new one
    remember(first, 5)
    assert recall(first) == 5 and recall(second) is None
    real = new_shape_tensor((2,))
    assert type(real) is torch.Tensor and tuple(real.shape) == (2,) and real.dtype == torch.int64
