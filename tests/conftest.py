"""Shared test setup.

Compiled kernels go to one cache directory shared by every test worker and
every run (``.symback-test-cache`` beside the tests, unless SYMBACK_CACHE_DIR
is set), so Numba compiles each distinct kernel once and xdist workers and
later runs reuse the machine code.
"""
import os
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
os.environ.setdefault("SYMBACK_CACHE_DIR", str(ROOT / ".symback-test-cache"))
sys.path.insert(0, str(ROOT))  # for `benchmarks` (workload definitions and data)
