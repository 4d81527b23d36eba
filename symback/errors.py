"""What counts as the user's mistake.

A :class:`UserError` says that something the user gave symback is wrong -- a
model file, an argument, a shape, a point to evaluate at -- and its message says
what and where.  The command line prints it as one line and exits with status 2.
Any other exception that escapes symback (``KeyError``, ``AttributeError``, a
plain ``ValueError`` from deep inside a pass...) is a bug in symback: the
command line lets it through, with its traceback and exit status 1, so that
it gets reported instead of looking like a usage mistake.

Subclasses keep the builtin class that callers already catch
(:class:`InputError` is a ``ValueError``, ``ShapeError`` too).
"""
from __future__ import annotations


class UserError(Exception):
    """Something the user gave symback is wrong; the message says what."""


class InputError(UserError, ValueError):
    """A bad argument to a public function (e.g. an ``at=`` key that is not a
    variable of the model)."""
