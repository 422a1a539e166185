"""mproc.dummy: multiprocessing.dummy itself.

multiprocessing.dummy puts threads behind multiprocessing's API (Pool is a
ThreadPool, Process a Thread, Queue the queue module's). Threads share
memory already, so mproc has nothing to put under them: this module hands
out multiprocessing.dummy's names, so that a program whose
`from multiprocessing.dummy import Pool` became `from mproc.dummy import
Pool` (import mproc as multiprocessing) runs as it did.
"""
from multiprocessing import dummy as _dummy
from multiprocessing.dummy import *  # noqa: F401,F403
from multiprocessing.dummy import connection  # noqa: F401

__all__ = list(_dummy.__all__)
