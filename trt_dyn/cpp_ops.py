"""The C++ build of the ``trt_dyn::*`` ops (``CMakeLists.txt``, ``csrc/``): build it, find it, load it.

Two shared libraries come out of one set of kernels:

* ``libtrt_dyn_ops.so`` defines every op (the same schemas as ``trt_dyn/ops/``) and registers its CPU and
  CUDA kernels. It is what a process *without* trt_dyn's Python package loads to run a program that keeps
  ``trt_dyn::*`` nodes in PyTorch (a program compiled in warn mode): ``torch.ops.load_library(path)`` from
  Python, or linking it into a libtorch application.
* ``libtrt_dyn_kernels.so`` registers the same kernels without defining the ops. ``import trt_dyn`` already
  defines them in Python (a second definition is an error), so :func:`load_cpp_ops` loads this one: the C++
  CPU/CUDA kernels then take precedence over the Python eager kernels (a backend kernel wins over
  ``CompositeExplicitAutograd``), while the Python fake kernels keep serving export and compile.
  ``const`` and ``const_scalar`` have no tensor argument to dispatch on and keep their Python kernel.

Python registration stays the default: nothing here runs unless asked for.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Optional

import torch

from . import settings

__all__ = ["build", "library_path", "load_cpp_ops", "default_build_dir", "CppOpsNotBuiltError"]

#: library defining the ops and registering their kernels (processes without trt_dyn's Python ops)
OPS_LIBRARY = "libtrt_dyn_ops.so"
#: the same kernels only (processes that imported trt_dyn)
KERNELS_LIBRARY = "libtrt_dyn_kernels.so"

_SOURCE_DIR = Path(__file__).resolve().parent.parent


class CppOpsNotBuiltError(FileNotFoundError):
    """The C++ op library has not been built where it was looked for."""


def default_build_dir() -> Path:
    """``$TRT_DYN_CPP_BUILD_DIR``, else ``build/cpp`` in the source tree."""
    return Path(settings.get("cpp_build_dir") or _SOURCE_DIR / "build" / "cpp")


def library_path(kind: str = "ops", build_dir: Optional[os.PathLike] = None) -> Path:
    """Path of ``libtrt_dyn_ops.so`` (``kind="ops"``) or ``libtrt_dyn_kernels.so`` (``kind="kernels"``)."""
    names = {"ops": OPS_LIBRARY, "kernels": KERNELS_LIBRARY}
    if kind not in names:
        raise ValueError(f"kind must be one of {sorted(names)}, got {kind!r}")
    path = Path(build_dir or default_build_dir()) / names[kind]
    if not path.is_file():
        raise CppOpsNotBuiltError(
            f"{path} does not exist: build the C++ ops first (`./dev build-cpp`, or `python -m trt_dyn.cpp_ops`)"
        )
    return path


def build(build_dir: Optional[os.PathLike] = None, jobs: int = 2, quiet: bool = True) -> Path:
    """Configure and build both libraries with CMake against the installed torch; returns the build directory.

    Incremental: an up-to-date build only re-checks timestamps. Needs ``cmake`` and a C++20 compiler.
    """
    build_dir = Path(build_dir or default_build_dir())
    missing = [tool for tool in ("cmake", "c++") if shutil.which(tool) is None]
    if missing:
        raise RuntimeError(f"building the C++ ops needs {missing} (Debian: apt-get install -y cmake g++)")
    output = subprocess.DEVNULL if quiet else None
    configure = [
        "cmake", "-S", str(_SOURCE_DIR), "-B", str(build_dir),
        f"-DCMAKE_PREFIX_PATH={torch.utils.cmake_prefix_path}",
        f"-DTORCH_CXX11_ABI={int(torch._C._GLIBCXX_USE_CXX11_ABI)}",
    ]
    for command in (configure, ["cmake", "--build", str(build_dir), "-j", str(jobs)]):
        result = subprocess.run(command, stdout=output, stderr=subprocess.PIPE, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr[-4000:]}")
    return build_dir


def _ops_defined_in_python() -> bool:
    from .ops import ALL_OPS

    return bool(ALL_OPS)


def load_cpp_ops(build_dir: Optional[os.PathLike] = None) -> Path:
    """Load the C++ kernels of the trt_dyn ops into this process; returns the library loaded.

    In a process that imported trt_dyn (the ops are defined in Python) this loads the kernels-only library;
    the C++ CPU/CUDA kernels then serve eager calls. Loading twice is harmless.
    """
    kind = "kernels" if _ops_defined_in_python() else "ops"
    path = library_path(kind, build_dir)
    torch.ops.load_library(str(path))
    return path


if __name__ == "__main__":  # python -m trt_dyn.cpp_ops [build_dir]: what `./dev build-cpp` runs
    built = build(sys.argv[1] if len(sys.argv) > 1 else None, quiet=False)
    print(f"[trt_dyn] C++ ops built: {built / OPS_LIBRARY}, {built / KERNELS_LIBRARY}")
