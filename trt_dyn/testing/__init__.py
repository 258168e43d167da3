"""Testing utilities: GPU availability, the CPU reference executor, compile_cpu and the converter harness."""

from .compile_cpu import compile_cpu  # noqa: E402,F401  (the function; the module stays importable by name)
