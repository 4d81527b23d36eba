"""Keep freed arrays in the heap, so that the next call does not page-fault them in.

Why: glibc's malloc gives a block above its "mmap threshold" (128 KiB at start;
it rises only when a *bigger* block is freed) fresh pages from the kernel and
hands them back on free.  A kernel that allocates the same large arrays on
every call -- its gradients, the tape of a backward pass -- then takes a page
fault and a page of zeroing for every 4 KiB of them on every call.  W1v
(1e6 points, two 8 MB gradients) took 3,875 page faults per value_and_grad,
about half its time (33.8 ms -> 17.5 ms on one core with the change below,
``python -m benchmarks.heap``).

glibc raises both thresholds by itself once the program frees a 32 MiB block
(the mmap threshold to that block's size, capped at 32 MiB on 64-bit; the trim
threshold to twice that).  A generated module sets those values at import
(``mallopt``), so its kernels' arrays of up to 32 MiB are reused from call to
call.  The effect is process-wide, as glibc's own adjustment is; it is skipped
where malloc is not glibc's, where the user tuned malloc (``MALLOC_*_`` or
``GLIBC_TUNABLES``), and when ``SYMBACK_MALLOC_TUNING=0``.

The module emitter appends :data:`SOURCE` and :data:`CALL` to modules whose
entry points take or return arrays; :func:`keep_freed_memory` is the same
function, for the benchmarks, which apply it before timing any system (so that
no system's speed depends on which was imported first).
"""

SOURCE = '''

def _keep_freed_memory():
    """Freed arrays of up to 32 MiB stay in the heap for the next call instead of being
    page-faulted in again: glibc's own thresholds once a 32 MiB block is freed (see
    symback.backend.heap; process-wide; off with SYMBACK_MALLOC_TUNING=0)."""
    import ctypes
    import os
    if os.environ.get("SYMBACK_MALLOC_TUNING") == "0" or "GLIBC_TUNABLES" in os.environ \\
            or any(k.startswith("MALLOC_") and k.endswith("_") for k in os.environ):
        return   # the user's choice
    try:
        libc = ctypes.CDLL(None)
    except (OSError, TypeError):
        return
    if hasattr(libc, "gnu_get_libc_version"):   # glibc's malloc, or leave it alone
        libc.mallopt(-3, 32 << 20)   # M_MMAP_THRESHOLD: blocks below this come from the heap
        libc.mallopt(-1, 64 << 20)   # M_TRIM_THRESHOLD: free memory kept at the heap's top
'''

#: what a generated module runs at import, after defining the function
CALL = "_keep_freed_memory()"

_namespace = {}
exec(compile(SOURCE, __file__, "exec"), _namespace)   # noqa: S102 -- the text above, defined once
keep_freed_memory = _namespace["_keep_freed_memory"]
