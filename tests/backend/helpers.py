"""Shared by the backend tests: what Numba compiled while some code ran."""


def compiled_during(call):
    """The Python functions Numba compiled (njit functions and overload
    implementations, in the order they finished) while running ``call()``."""
    import numba.core.event as ev
    rec = ev.RecordingListener()
    ev.register("numba:compile", rec)
    try:
        call()
    finally:
        ev.unregister("numba:compile", rec)
    return [e.data["dispatcher"].py_func for _, e in rec.buffer if e.is_end]
