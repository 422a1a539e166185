"""Contexts ("fork", "spawn") and the top-level names of multiprocessing.

A context is a start method plus a method per multiprocessing name that
creates that object bound to the context. The names live in their own
modules and are imported when first used, so a module that is missing (or
broken) fails only the names that need it.

"fork" (the default, as multiprocessing's on Linux): the child is a copy of
this process; it inherits every object, nothing is pickled. "spawn": a fresh
interpreter runs the target; the Process object and what it carries are
pickled (mproc.reduction). "forkserver" does not exist in mproc.
"""
from . import _mproc
from . import process as _process

__all__ = [
    "Array", "AuthenticationError", "Barrier", "BoundedSemaphore", "BufferTooShort", "Condition",
    "Event", "JoinableQueue", "Lock", "Manager", "Pipe", "Pool", "Process", "ProcessError",
    "Queue", "RLock", "RawArray", "RawValue", "Semaphore", "SimpleQueue", "TimeoutError", "Value",
    "active_children", "allow_connection_pickling", "cpu_count", "current_process",
    "freeze_support", "get_all_start_methods", "get_context", "get_logger", "get_start_method",
    "log_to_stderr", "parent_process", "reducer", "set_executable", "set_forkserver_preload",
    "set_start_method",
]

_METHODS = ("fork", "spawn")


# multiprocessing's own exception classes, so that `except
# multiprocessing.TimeoutError` also catches mproc's (a program that moved
# to mproc may still name them from multiprocessing).
from multiprocessing import (  # noqa: E402
    AuthenticationError, BufferTooShort, ProcessError, TimeoutError)


class BaseContext:
    """The factory methods of multiprocessing, bound to one start method."""

    ProcessError = ProcessError
    BufferTooShort = BufferTooShort
    TimeoutError = TimeoutError
    AuthenticationError = AuthenticationError

    current_process = staticmethod(_process.current_process)
    parent_process = staticmethod(_process.parent_process)
    active_children = staticmethod(_process.active_children)

    _name = None

    def cpu_count(self):
        """The CPUs this process may use: its affinity mask, lowered by a cgroup CPU quota."""
        return _mproc.cpu_count()

    def Manager(self):
        """multiprocessing's own Manager (a server process and proxies): mproc
        has no manager of its own. Its proxies work in mproc's forked
        children (mproc runs multiprocessing's after-fork steps there); a
        spawned mproc child cannot use them (the server's authentication
        key is not handed over)."""
        import multiprocessing
        return multiprocessing.get_context("fork").Manager()

    def Pipe(self, duplex=True):
        from .connection import Pipe
        return Pipe(duplex, ctx=self)

    def Lock(self):
        from .synchronize import Lock
        return Lock(ctx=self)

    def RLock(self):
        from .synchronize import RLock
        return RLock(ctx=self)

    def Condition(self, lock=None):
        from .synchronize import Condition
        return Condition(lock, ctx=self)

    def Semaphore(self, value=1):
        from .synchronize import Semaphore
        return Semaphore(value, ctx=self)

    def BoundedSemaphore(self, value=1):
        from .synchronize import BoundedSemaphore
        return BoundedSemaphore(value, ctx=self)

    def Event(self):
        from .synchronize import Event
        return Event(ctx=self)

    def Barrier(self, parties, action=None, timeout=None):
        from .synchronize import Barrier
        return Barrier(parties, action, timeout, ctx=self)

    def Queue(self, maxsize=0, **mproc_options):
        from .queues import Queue
        return Queue(maxsize, ctx=self, **mproc_options)

    def JoinableQueue(self, maxsize=0, **mproc_options):
        from .queues import JoinableQueue
        return JoinableQueue(maxsize, ctx=self, **mproc_options)

    def SimpleQueue(self):
        from .queues import SimpleQueue
        return SimpleQueue(ctx=self)

    def Pool(self, processes=None, initializer=None, initargs=(), maxtasksperchild=None):
        from .pool import Pool
        return Pool(processes, initializer, initargs, maxtasksperchild, ctx=self)

    def RawValue(self, typecode_or_type, *args):
        from .sharedctypes import RawValue
        return RawValue(typecode_or_type, *args, ctx=self)

    def RawArray(self, typecode_or_type, size_or_initializer):
        from .sharedctypes import RawArray
        return RawArray(typecode_or_type, size_or_initializer, ctx=self)

    def Value(self, typecode_or_type, *args, lock=True):
        from .sharedctypes import Value
        return Value(typecode_or_type, *args, lock=lock, ctx=self)

    def Array(self, typecode_or_type, size_or_initializer, *, lock=True):
        from .sharedctypes import Array
        return Array(typecode_or_type, size_or_initializer, lock=lock, ctx=self)

    def freeze_support(self):
        """Nothing to do: mproc's spawn runs the main module as __mp_main__ itself."""

    def get_logger(self):
        import logging
        return logging.getLogger("mproc")

    def log_to_stderr(self, level=None):
        import logging
        logger = self.get_logger()
        if not any(getattr(h, "_mproc_stderr", False) for h in logger.handlers):
            h = logging.StreamHandler()
            h.setFormatter(logging.Formatter("[%(levelname)s/%(processName)s] %(message)s"))
            h._mproc_stderr = True
            logger.addHandler(h)
        if level:
            logger.setLevel(level)
        return logger

    def allow_connection_pickling(self):
        """Nothing to do: Connections pickle for spawn through mproc.reduction."""

    def set_executable(self, executable):
        """The interpreter spawn starts (default sys.executable)."""
        from . import spawn
        spawn.set_executable(executable)

    def set_forkserver_preload(self, module_names):
        """Nothing to do: there is no forkserver in mproc."""

    def get_context(self, method=None):
        if method is None:
            return _default_context
        try:
            return _contexts[method]
        except KeyError:
            raise ValueError(f"cannot find context for {method!r}") from None

    def get_start_method(self, allow_none=False):
        return self._name

    def set_start_method(self, method, force=False):
        raise ValueError("cannot set start method of concrete context")

    def get_all_start_methods(self):
        return list(_METHODS)

    @property
    def reducer(self):
        from . import reduction
        return reduction

    @reducer.setter
    def reducer(self, value):
        raise ValueError("mproc has one reducer (mproc.reduction)")

    def __repr__(self):
        return f"<mproc context {self.get_start_method(allow_none=True)!r}>"


class ForkProcess(_process.Process):
    _start_method = "fork"


class SpawnProcess(_process.Process):
    _start_method = "spawn"


class ForkContext(BaseContext):
    _name = "fork"
    Process = ForkProcess


class SpawnContext(BaseContext):
    _name = "spawn"
    Process = SpawnProcess


class DefaultContext(BaseContext):
    """The context of the top-level names: its start method can be set once."""

    Process = _process.Process

    def __init__(self, context):
        self._default = context
        self._actual = None

    def get_context(self, method=None):
        if method is None:
            if self._actual is None:
                self._actual = self._default
            return self._actual
        return super().get_context(method)

    def set_start_method(self, method, force=False):
        if self._actual is not None and not force:
            raise RuntimeError("context has already been set")
        if method is None and force:
            self._actual = None
            return
        self._actual = self.get_context(method)

    def get_start_method(self, allow_none=False):
        if self._actual is None:
            if allow_none:
                return None
            self._actual = self._default
        return self._actual._name

    def get_all_start_methods(self):
        return list(_METHODS)


_contexts = {"fork": ForkContext(), "spawn": SpawnContext()}
_default_context = DefaultContext(_contexts["fork"])


cpu_count = _default_context.cpu_count
Manager = _default_context.Manager
Pipe = _default_context.Pipe
Lock = _default_context.Lock
RLock = _default_context.RLock
Condition = _default_context.Condition
Semaphore = _default_context.Semaphore
BoundedSemaphore = _default_context.BoundedSemaphore
Event = _default_context.Event
Barrier = _default_context.Barrier
Queue = _default_context.Queue
JoinableQueue = _default_context.JoinableQueue
SimpleQueue = _default_context.SimpleQueue
Pool = _default_context.Pool
RawValue = _default_context.RawValue
RawArray = _default_context.RawArray
Value = _default_context.Value
Array = _default_context.Array
freeze_support = _default_context.freeze_support
get_logger = _default_context.get_logger
log_to_stderr = _default_context.log_to_stderr
allow_connection_pickling = _default_context.allow_connection_pickling
set_executable = _default_context.set_executable
set_forkserver_preload = _default_context.set_forkserver_preload
get_context = _default_context.get_context
get_start_method = _default_context.get_start_method
set_start_method = _default_context.set_start_method
get_all_start_methods = _default_context.get_all_start_methods
Process = _process.Process
current_process = _process.current_process
parent_process = _process.parent_process
active_children = _process.active_children


def __getattr__(name):
    if name == "reducer":
        from . import reduction
        return reduction
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
