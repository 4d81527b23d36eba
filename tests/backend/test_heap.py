"""The generated module's malloc tuning (symback/backend/heap.py): large arrays
freed by one call are reused by the next instead of page-faulted in again."""
import ctypes
import os
import subprocess
import sys
import textwrap

import pytest

import symback as sb

_GLIBC = hasattr(ctypes.CDLL(None), "gnu_get_libc_version")

# Counts the page faults of malloc'ing, filling and freeing an 8 MB block (what a kernel
# does with a gradient array each call), after importing a generated module, in a fresh
# process: the tuning is process-wide.  (Through ctypes, as Numba's runtime calls malloc:
# numpy's allocator would add its own huge-page advice.)
_PROBE = textwrap.dedent("""
    import ctypes, importlib.util, resource, sys
    spec = importlib.util.spec_from_file_location("probe_module", sys.argv[1])
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]
    def cycle():
        p = libc.malloc(8 << 20)
        ctypes.memset(p, 1, 8 << 20)
        libc.free(p)
    def faults():
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    cycle()
    before = faults()
    for _ in range(10):
        cycle()
    print((faults() - before) / 10)
""")


def _faults_per_8mb_array(path, **env):
    out = subprocess.run([sys.executable, "-c", _PROBE, str(path)], capture_output=True, text=True,
                         env={**os.environ, **env}, check=True)
    return float(out.stdout)


def _array_module(tmp_path):
    x = sb.var("x", (None,))
    path = tmp_path / "arrays.py"
    sb.value_and_grad(sb.sum(sb.exp(x)), [x], name="heap_arrays").save(str(path))
    return path


@pytest.mark.skipif(not _GLIBC, reason="the tuning applies to glibc's malloc only")
def test_importing_an_array_module_keeps_freed_arrays_in_the_heap(tmp_path):
    path = _array_module(tmp_path)
    tuned = _faults_per_8mb_array(path)
    untuned = _faults_per_8mb_array(path, SYMBACK_MALLOC_TUNING="0")
    # fresh pages every cycle without the tuning (the control shows the probe sees
    # them: ~200 faults here, the kernel maps several pages a fault), none once the
    # heap keeps the block
    assert untuned > 100
    assert tuned < 5


@pytest.mark.skipif(not _GLIBC, reason="the tuning applies to glibc's malloc only")
def test_user_tuning_wins(tmp_path):
    """A user's own malloc settings are left alone (the probe behaves as untuned)."""
    path = _array_module(tmp_path)
    assert _faults_per_8mb_array(path, MALLOC_TOP_PAD_="131072") > 100


def test_scalar_modules_leave_malloc_alone():
    x = sb.var("x")
    source = sb.value_and_grad(sb.exp(x) * x, [x], name="heap_scalar").source
    assert "_keep_freed_memory" not in source
    x = sb.var("x", (3,))
    source = sb.value_and_grad(sb.sum(sb.exp(x)), [x], name="heap_array").source
    assert source.count("_keep_freed_memory()") == 2    # defined and called once
