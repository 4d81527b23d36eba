"""The Numba backend.  Importing it registers every lowering rule (the table in
:mod:`symback.backend.lowering`; ``scan`` is lowered by :mod:`.loops`)."""
from . import loops, lowering  # noqa: F401  (registration)
