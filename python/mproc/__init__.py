"""mproc for Python: multiprocessing's API on the mproc C library.

    import mproc as multiprocessing

runs a multiprocessing program unchanged. docs/python-module.md lists every
multiprocessing name as supported, different (how) or missing.
"""
from ._mproc import MprocError, OwnerDeadError, version as __version__

# Each area module defines __all__; the names below are multiprocessing's
# top-level API (the default context's methods, as multiprocessing has them).
from .context import *  # noqa: F401,F403
from .context import __all__ as _context_all

__all__ = ["MprocError", "OwnerDeadError"] + list(_context_all)

# mproc's pool errors (mproc.pool defines them).
from ._mproc import WorkerLostError, TaskTimeoutError  # noqa: E402

__all__ += ["WorkerLostError", "TaskTimeoutError"]
