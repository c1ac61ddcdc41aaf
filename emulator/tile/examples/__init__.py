"""Example NKI kernels shipped with the emulator (used by the benchmark and the docs)."""
