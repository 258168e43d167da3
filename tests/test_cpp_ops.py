"""The C++ op library (CMakeLists.txt, csrc/): same schemas, same results as the Python ops, usable without them.

The library is built here (incrementally) with cmake against the installed torch. Every C++ run happens in a
subprocess: one that never imports trt_dyn (only ``libtrt_dyn_ops.so`` defines the ops there), or one that
imports trt_dyn and calls ``trt_dyn.load_cpp_ops()``, so that this process keeps the Python eager kernels
the C++ ones are compared with.
"""

import json
import os
import subprocess
import sys
import textwrap
import warnings

import pytest
import torch
from torch.export import Dim

import trt_dyn
from trt_dyn import cpp_ops
from trt_dyn.aot import restore_pytorch_targets
from trt_dyn.ops import cpp_kernel_ops



@pytest.fixture(scope="module")
def build_dir():
    return cpp_ops.build()


def python_op_schemas():
    """Schemas of the ops the C++ library must define: every op not declared ``define(..., cpp_kernel=False)``."""
    return {f"trt_dyn::{name}": str(torch._C._get_schema(f"trt_dyn::{name}", "")) for name in sorted(cpp_kernel_ops())}


def run_python(code, *args, timeout=300):
    """Run ``code`` in a fresh interpreter (no trt_dyn unless the code imports it); returns its stdout."""
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code), *map(str, args)],
                            capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"subprocess failed:\n{result.stderr[-6000:]}"
    return result.stdout


CPP_ONLY_PRELUDE = """
    import json, sys
    import torch
    torch.ops.load_library(sys.argv[1])
    assert not any(name == "trt_dyn" or name.startswith("trt_dyn.") for name in sys.modules), "trt_dyn imported"
"""


def test_schemas_equal_python_definitions(build_dir):
    code = CPP_ONLY_PRELUDE + """
    names = sorted(n for n in torch._C._dispatch_get_all_op_names() if n.startswith("trt_dyn::"))
    print(json.dumps({name: str(torch._C._get_schema(name, "")) for name in names}))
    """
    cpp = json.loads(run_python(code, cpp_ops.library_path("ops", build_dir)))
    python = python_op_schemas()
    assert set(python) - set(cpp) == set(), (
        "ops defined in Python but not in csrc/schemas.cpp: write their C++ kernels, or declare them "
        "define(..., cpp_kernel=False)")
    assert set(cpp) - set(python) == set(), "ops defined in C++ but not in trt_dyn/ops, or declared cpp_kernel=False"
    for name in python:
        assert cpp[name] == python[name], name
    assert len(python) >= 43


# ---- kernels: every op, random inputs, C++ (subprocess, no trt_dyn) vs the Python eager kernel (here) ----


def _ints(generator, *shape, low=-20, high=21, dtype=torch.int64):
    return torch.randint(low, high, shape, generator=generator, dtype=dtype)


def _nonzero(generator, *shape):
    values = _ints(generator, *shape, low=1, high=9)
    signs = torch.where(torch.rand(shape, generator=generator) < 0.5, -1, 1)
    return values * signs


def _randn(generator, *shape, dtype=torch.float32):
    return torch.randn(shape, generator=generator, dtype=dtype)


def kernel_cases(seed):
    """(op, args, kwargs) triples covering every trt_dyn op, valid and invalid calls, on random values."""
    g = torch.Generator().manual_seed(seed)
    rand = lambda high: int(torch.randint(0, high, (), generator=g))  # noqa: E731
    cases = []
    add = lambda op, *args, **kwargs: cases.append((op, args, kwargs))  # noqa: E731

    # shape.py
    for rank in range(5):
        x = _randn(g, *[rand(4) + 1 for _ in range(rank)])
        add("size_dyn", x)
        add("numel_dyn", x)
        if rank:
            add("sym_size_dyn", x, rand(rank) - rank)
            add("sym_sizes_dyn", x, [rand(rank) - rank, rand(rank), rand(rank)])
    add("const", [rand(100) - 50 for _ in range(4)])
    add("const", [])
    add("const_scalar", rand(1000) - 500)
    add("const_scalar", float(_randn(g)))
    add("const_scalar", True)
    add("symint_dyn", rand(1000))
    add("shape_cat_dyn", [_ints(g), _ints(g, 3, dtype=torch.int32), _ints(g, 2)])
    add("shape_cat_dyn", [])
    add("shape_cat_dyn", [_randn(g, 2)])
    add("shape_cat_dyn", [_ints(g, 2, 2)])

    # arith.py: int/int, float/int, broadcasting 0-d with 1-d, division by zero
    for op in ("add_dyn", "sub_dyn", "mul_dyn", "floordiv_dyn", "ceildiv_dyn", "mod_dyn", "min_dyn", "max_dyn",
               "truediv_dyn"):
        add(op, _ints(g, 4), _nonzero(g, 4))
        add(op, _ints(g), _nonzero(g, 3))
        add(op, _randn(g, 3) * 10, _nonzero(g))
        add(op, _ints(g, 2, dtype=torch.int32), _nonzero(g, 2))
    for op in ("floordiv_dyn", "ceildiv_dyn", "mod_dyn", "truediv_dyn"):
        add(op, _ints(g, 2), torch.tensor([3, 0]))
    add("add_dyn", _randn(g, 2, 2), _ints(g))
    add("add_dyn", _ints(g, 2).to(torch.bool), _ints(g))
    for op in ("neg_dyn", "float_dyn", "int_dyn", "ceil_dyn", "floor_dyn"):
        add(op, _ints(g, 5))
        add(op, _randn(g, 5) * 10)
        add(op, _randn(g) * 10)
        add(op, _randn(g, 2, dtype=torch.float64) * 10)
        add(op, _randn(g, 2).to(torch.float16))

    # views.py
    x = _randn(g, 2, 3, 4)
    add("reshape_dyn", x, torch.tensor([4, -1]))
    add("reshape_dyn", x, torch.tensor([6, 4], dtype=torch.int32))
    add("reshape_dyn", x, torch.tensor([5, -1]))
    add("expand_dyn", _randn(g, 3, 1), torch.tensor([2, 3, rand(5) + 1]))
    add("expand_dyn", _randn(g, 3, 1), torch.tensor([-1, 4]))
    add("unflatten_dyn", _randn(g, 2, 12), 1, torch.tensor([3, -1]))
    add("unflatten_dyn", _randn(g, 12, 2), -2, torch.tensor([2, 2, 3]))
    add("repeat_dyn", _randn(g, 2, 3), torch.tensor([2, 1, rand(3) + 1]))
    add("repeat_dyn", _randn(g, 2, 3), torch.tensor([2]))
    add("select_dyn", _randn(g, 3, 4), 1, torch.tensor(rand(8) - 4))
    add("select_dyn", _randn(g, 3, 4), 0, torch.tensor([1]))

    # creation.py
    shape = torch.tensor([rand(3) + 1, rand(4)])
    add("full_dyn", shape, float(_randn(g)))
    add("full_dyn", shape, rand(9))
    add("full_dyn", shape, True)
    add("full_dyn", shape, 2.5, dtype=torch.float16)
    add("full_dyn", shape, 3, dtype=torch.float64, device="cpu")
    add("full_value_dyn", shape, torch.tensor(rand(50) - 25))
    add("full_value_dyn", shape, torch.tensor(float(_randn(g))))
    add("full_value_dyn", shape, torch.tensor(rand(9), dtype=torch.int32), dtype=torch.float16)
    add("full_value_dyn", shape, torch.tensor([2]))
    add("zeros_dyn", shape)
    add("zeros_dyn", torch.tensor([2, 0, 3]), dtype=torch.int32)
    add("ones_dyn", shape)
    add("ones_dyn", shape, dtype=torch.bool)
    add("ones_dyn", _randn(g, 2))
    like = _randn(g, 2, dtype=torch.float64)
    add("new_full_dyn", like, shape, 7)
    add("new_full_dyn", like, shape, 1.5, dtype=torch.int32)
    add("new_zeros_dyn", like, shape)
    add("new_zeros_dyn", like, shape, dtype=torch.int64)
    add("new_ones_dyn", like, torch.tensor([rand(5)]))
    add("new_ones_dyn", like, shape, dtype=torch.float16)
    for _ in range(3):
        add("arange_dyn", torch.tensor(rand(10) - 5), torch.tensor(rand(30) + 5), torch.tensor(rand(3) + 1))
    add("arange_dyn", torch.tensor(rand(30)), torch.tensor(-3), torch.tensor(-(rand(3) + 1)))
    add("arange_dyn", torch.tensor(0.5), torch.tensor(float(rand(20)) + 0.25), torch.tensor(0.75))
    add("arange_dyn", torch.tensor(1), torch.tensor(9), torch.tensor(2), dtype=torch.float32)
    add("arange_dyn", torch.tensor([1]), torch.tensor(9), torch.tensor(2))
    add("linspace_dyn", torch.tensor(0.0), torch.tensor(float(rand(10))), torch.tensor(rand(9) + 1))
    add("linspace_dyn", torch.tensor(-3), torch.tensor(3), torch.tensor(7), dtype=torch.float64)
    add("linspace_dyn", torch.tensor(0), torch.tensor(1), torch.tensor(2.0))

    # slicing.py
    x = _randn(g, 4, 9, 3)
    int64_max = 9223372036854775807
    for _ in range(3):
        add("slice_dyn", x, 1, torch.tensor(rand(14) - 7), torch.tensor(rand(14) - 4), rand(3) + 1)
    add("slice_dyn", x, -1, torch.tensor(1), torch.tensor(int64_max))
    add("slice_dyn", x, 0, torch.tensor(1.0), torch.tensor(3))
    add("narrow_dyn", x, 1, torch.tensor(rand(5)), torch.tensor(rand(4) + 1))
    add("narrow_dyn", x, 1, torch.tensor(-3), torch.tensor(2))
    add("narrow_dyn", x, 1, torch.tensor(8), torch.tensor(5))
    first = rand(9)
    add("split_dyn", x, torch.tensor([first, 9 - first]), 1)
    add("split_dyn", x, torch.tensor([1, 1, 2]))
    add("split_dyn", x, torch.tensor([2, 2]), 1)
    add("pad_dyn", x, torch.tensor([1, 2, -1, rand(3)]), float(_randn(g)))
    add("pad_dyn", x, torch.tensor([2, 0]))

    # resize.py
    image = {1: _randn(g, 1, 2, 7), 2: _randn(g, 2, 3, 5, 6), 3: _randn(g, 1, 2, 3, 4, 5)}
    for mode, spatial in (("nearest", 1), ("nearest", 2), ("nearest", 3), ("linear", 1), ("bilinear", 2),
                          ("bicubic", 2), ("trilinear", 3)):
        size = torch.tensor([rand(9) + 1 for _ in range(spatial)])
        for align_corners in (False, True):
            add("interpolate_dyn", image[spatial], size, mode, align_corners)
        add("interpolate_dyn", image[spatial], size, mode, False, [1.5 + rand(3)] * spatial)
    for mode in ("bilinear", "bicubic"):
        size = torch.tensor([rand(12) + 1, rand(12) + 1])
        add("interpolate_aa_dyn", image[2], size, mode)
        add("interpolate_aa_dyn", image[2], size, mode, True)
    add("interpolate_aa_dyn", image[2], torch.tensor([4, 4]), "nearest")
    add("interpolate_aa_dyn", image[3], torch.tensor([4, 4]))
    add("interpolate_dyn", image[2], torch.tensor([4, 4]), "area")
    add("interpolate_dyn", image[2], torch.tensor([4]), "bilinear")
    add("interpolate_dyn", image[2], torch.tensor([4, 4]), "nearest", False, [2.0])

    # topk.py
    scores = _randn(g, 3, 11)
    for _ in range(3):
        add("topk_dyn", scores, torch.tensor(rand(12)), -1, bool(rand(2)), True)
    add("topk_dyn", scores, torch.tensor(2), 0, False)
    add("topk_dyn", scores, torch.tensor(12))
    add("topk_dyn", scores, torch.tensor([2]))

    # selection.py
    add("nonzero_bounded", torch.rand(3, 4, generator=g) < 0.4)
    add("nonzero_bounded", _ints(g, 7, low=0, high=3))
    add("nonzero_bounded", torch.zeros(5, dtype=torch.bool))
    add("nonzero_bounded", torch.tensor(True))

    # nms.py: both of torchvision's branches (> 4000 box coordinates runs NMS per class)
    for count in (30, 1200):
        corner = torch.rand(count, 2, generator=g) * 100
        boxes = torch.cat([corner, corner + torch.rand(count, 2, generator=g) * 30 + 1], dim=1)
        add("batched_nms", boxes, torch.rand(count, generator=g), _ints(g, count, low=0, high=4), 0.5)
    add("batched_nms", torch.zeros(0, 4), torch.zeros(0), torch.zeros(0, dtype=torch.int64), 0.5)
    return cases


# exec'd here and in the C++-only subprocess, which must not import this module (it imports trt_dyn)
CALL_EACH = """
def call_each(cases):
    outcomes = []  # per case ("ok", result) or ("error", exception type, first message line)
    for name, args, kwargs in cases:
        try:
            outcomes.append(("ok", getattr(torch.ops.trt_dyn, name)(*args, **kwargs)))
        except Exception as error:  # the exception is the outcome being compared
            outcomes.append(("error", type(error).__name__, str(error).splitlines()[0]))
    return outcomes
"""
exec(CALL_EACH)


def _leaves(value):
    return list(value) if isinstance(value, (list, tuple)) else [value]


def assert_same_outcome(case, python, cpp):
    name = case[0]
    if python[0] == "error":
        assert cpp[0] == "error", f"{name}: Python raised {python[1:]} but C++ returned"
        # Python's ZeroDivisionError has no C++ counterpart (RuntimeError); the message says the same
        if python[1] == "ZeroDivisionError":
            assert cpp[1] == "RuntimeError" and "division by zero" in cpp[2], (name, cpp)
        else:
            assert cpp[1] == python[1], f"{name}: Python raised {python[1:]}, C++ {cpp[1:]}"
        return
    assert cpp[0] == "ok", f"{name}: C++ raised {cpp[1:]}, Python returned"
    assert type(cpp[1]) is type(python[1]) or {type(cpp[1]), type(python[1])} <= {list, tuple}, name
    expected, got = _leaves(python[1]), _leaves(cpp[1])
    assert len(got) == len(expected), name
    for want, have in zip(expected, got):
        assert have.dtype == want.dtype and have.shape == want.shape and have.device == want.device, \
            f"{name}: {have.dtype}{tuple(have.shape)} vs Python {want.dtype}{tuple(want.shape)}"
        assert torch.equal(have, want), f"{name}: values differ\nC++ {have}\nPython {want}"


def test_every_kernel_equals_python_eager_on_random_inputs(build_dir, tmp_path):
    import torchvision  # noqa: F401  (batched_nms runs torchvision's nms kernel)

    seed = int.from_bytes(os.urandom(4), "little")
    cases = kernel_cases(seed)
    covered = {name for name, _, _ in cases}
    assert {name.split("::")[1] for name in python_op_schemas()} <= covered, "an op has no kernel case"
    torch.save(cases, tmp_path / "cases.pt")
    code = CPP_ONLY_PRELUDE + """
    import torchvision  # torchvision's nms kernel, for trt_dyn::batched_nms
    exec(sys.argv[4])
    cases = torch.load(sys.argv[2], weights_only=False)
    torch.save(call_each(cases), sys.argv[3])
    """
    run_python(code, cpp_ops.library_path("ops", build_dir), tmp_path / "cases.pt", tmp_path / "cpp.pt", CALL_EACH)
    cpp = torch.load(tmp_path / "cpp.pt", weights_only=False)
    python = call_each(cases)
    assert len(cpp) == len(python) == len(cases)
    for case, want, got in zip(cases, python, cpp):
        try:
            assert_same_outcome(case, want, got)
        except AssertionError as error:
            raise AssertionError(f"seed {seed}, case {case[0]} args {case[1]} kwargs {case[2]}: {error}") from None
    errors = sum(outcome[0] == "error" for outcome in python)
    assert 20 <= errors < len(cases) // 3  # the invalid calls above, and only those, fail


def test_load_cpp_ops_next_to_python_registrations(build_dir):
    """After import trt_dyn, load_cpp_ops() puts the C++ kernels in front; fake kernels still serve export."""
    code = """
    import sys, torch, trt_dyn
    from trt_dyn.ops import ALL_OPS
    assert torch.ops.trt_dyn.floordiv_dyn  # defined by Python
    try:
        torch.ops.trt_dyn.floordiv_dyn(torch.tensor(1), torch.tensor(0))
    except ZeroDivisionError:
        pass  # the Python kernel
    loaded = trt_dyn.load_cpp_ops(sys.argv[1])
    assert loaded.name == "libtrt_dyn_kernels.so", loaded
    assert trt_dyn.load_cpp_ops(sys.argv[1]) == loaded  # twice is harmless
    from trt_dyn.ops import cpp_kernel_ops
    names = [f"trt_dyn::{name}" for name in cpp_kernel_ops()]
    without_cpu = [n for n in names if n.split("::")[1] not in ("const", "const_scalar", "symint_dyn")
                   and not torch._C._dispatch_has_kernel_for_dispatch_key(n, "CPU")]
    assert not without_cpu, without_cpu
    try:
        torch.ops.trt_dyn.floordiv_dyn(torch.tensor(1), torch.tensor(0))
        raise AssertionError("no error")
    except RuntimeError as error:  # the C++ kernel
        assert "division by zero" in str(error)
    x = torch.randn(3, 4, 5)
    out = torch.ops.trt_dyn.reshape_dyn(x, torch.ops.trt_dyn.shape_cat_dyn(
        [torch.ops.trt_dyn.sym_size_dyn(x, 0), torch.tensor([-1])]))
    assert torch.equal(out, x.reshape(3, -1))

    class M(torch.nn.Module):
        def forward(self, x):
            return x.reshape(x.shape[0] * x.shape[1], -1)

    ep = torch.export.export(M(), (x,), dynamic_shapes=({0: torch.export.Dim("n", max=64)},))
    trt_dyn.lower(ep)  # fake kernels (Python) still trace the dyn ops
    assert any("reshape_dyn" in str(node.target) for node in ep.graph.nodes)
    y = torch.randn(7, 4, 5)
    assert torch.equal(ep.module()(y), y.reshape(28, -1))  # the C++ kernels run it
    print("ok", len(names))
    """
    assert run_python(code, build_dir).startswith("ok")


# ---- a program saved in warn mode runs with the C++ ops only ----


class WarnModeModel(torch.nn.Module):
    """Dyn rewrites (interpolate to a computed size, top-k with min(k, n), arange) and one op without a dyn
    variant (roll by a symbolic shift), so warn mode leaves it to PyTorch."""

    def forward(self, x):
        n, c, h, w = x.shape
        y = torch.nn.functional.interpolate(x, size=(h * 2, w + 3), mode="bilinear")
        flat = y.reshape(n, c, -1)
        values, indices = flat.topk(min(5, flat.shape[-1]), dim=-1)
        rolled = torch.roll(x, shifts=h // 2, dims=2)
        return values, indices, rolled + torch.arange(w, dtype=torch.float32)


def test_warn_mode_program_runs_with_cpp_ops_only(build_dir, tmp_path):
    from torch_tensorrt.dynamo.lowering import get_decompositions

    model = WarnModeModel()
    dims = {2: Dim("h", min=2, max=24), 3: Dim("w", min=2, max=24)}
    program = torch.export.export(model, (torch.randn(1, 2, 6, 7),), dynamic_shapes=(dims,))
    program = program.run_decompositions(get_decompositions())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trt_dyn.lower(program, on_missing="warn")
    assert any("aten.roll" in str(w.message) for w in caught), "the model should need warn mode"
    restore_pytorch_targets(program.graph_module)
    dyn_ops = {str(n.target) for n in program.graph.nodes if str(n.target).startswith("trt_dyn.")}
    assert {"trt_dyn.interpolate_dyn.default", "trt_dyn.topk_dyn.default", "trt_dyn.arange_dyn.default"} <= dyn_ops
    torch.export.save(program, tmp_path / "warn.pt2")

    inputs = [torch.randn(1, 2, h, w) for h, w in ((2, 2), (24, 24), (6, 7), (13, 5), (3, 22))]
    torch.save(inputs, tmp_path / "inputs.pt")
    code = CPP_ONLY_PRELUDE + """
    program = torch.export.load(sys.argv[2])
    module = program.module()
    outputs = [module(x) for x in torch.load(sys.argv[3])]
    torch.save(outputs, sys.argv[4])
    """
    run_python(code, cpp_ops.library_path("ops", build_dir), tmp_path / "warn.pt2", tmp_path / "inputs.pt",
               tmp_path / "outputs.pt")
    outputs = torch.load(tmp_path / "outputs.pt")
    for x, got in zip(inputs, outputs):
        want = model(x)
        torch.testing.assert_close(got[0], want[0], rtol=1e-5, atol=1e-6)
        assert torch.equal(got[1], want[1]), f"top-k indices differ at {tuple(x.shape)}"
        torch.testing.assert_close(got[2], want[2], rtol=0, atol=0)
