"""Testing utilities: GPU availability, the CPU reference executor, compile_cpu and the converter harness.

``trt_dyn.testing.compile_cpu`` is both the module (``import trt_dyn.testing.compile_cpu as m``,
``from trt_dyn.testing.compile_cpu import CompiledModule``) and, called, its function
(``trt_dyn.testing.compile_cpu(program)`` is ``trt_dyn.testing.compile_cpu.compile_cpu(program)``), the
way ``torch_tensorrt.dynamo.compile(program)`` reads.
"""

import inspect
import types

from . import compile_cpu


class _CallableModule(types.ModuleType):
    def __call__(self, *args, **kwargs):
        return self.compile_cpu(*args, **kwargs)

    @property
    def __signature__(self) -> inspect.Signature:
        return inspect.signature(self.compile_cpu)


compile_cpu.__class__ = _CallableModule

_ON_FIRST_USE = ("cpu_backend", "executor", "fidelity_cases", "gpu", "harness", "random_init", "upstream")


def __getattr__(name: str):
    # ``trt_dyn.testing.harness.run_converter_test`` works after ``import trt_dyn`` alone
    if name in _ON_FIRST_USE:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
