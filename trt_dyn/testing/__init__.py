"""Testing utilities: GPU availability, the CPU reference executor, compile_cpu and the converter harness."""
