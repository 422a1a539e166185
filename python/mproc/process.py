"""Process, current_process, parent_process, active_children.

A Process runs its target in a child started by fork (through the mproc
core, mproc._mproc.start_fork) or by spawn (a fresh interpreter, see
mproc.spawn). The handle behind a started Process is an mproc._mproc.Child:
a pidfd, so join with a timeout, is_alive and the signals never touch a
recycled pid, and `sentinel` is that pidfd (readable once the child ended).

Exit codes follow multiprocessing: 0 when run() returns, 1 after an
uncaught exception (its traceback is printed on stderr), SystemExit's code,
-N when the child was killed by signal N. Daemon children die with their
parent, also when the parent is killed with SIGKILL.
"""
import itertools
import os
import signal
import sys
import threading

from . import _mproc

__all__ = ["BaseProcess", "Process", "current_process", "parent_process", "active_children"]

_counter = itertools.count(1)
_children = set()


def current_process():
    """The Process object of the running process."""
    return _current


def parent_process():
    """The parent's Process object (a stand-in), or None in the main process."""
    return _parent


def active_children():
    """The children of this process that are still running."""
    _cleanup()
    return list(_children)


def _cleanup():
    for p in list(_children):
        h = p._handle
        if h is None or h.poll() is not None:
            _children.discard(p)


class Process:
    """multiprocessing.Process: run target(*args, **kwargs) in a child."""

    _start_method = None  # set by the context's subclasses (ForkProcess, SpawnProcess)

    def __init__(self, group=None, target=None, name=None, args=(), kwargs={}, *, daemon=None,
                 ctx=None):
        if group is not None:
            raise ValueError("group argument must be None for now")
        count = next(_counter)
        parent = current_process()
        self._identity = parent._identity + (count,)
        self._parent_pid = os.getpid()
        self._parent_name = parent.name
        self._handle = None
        self._closed = False
        self._exitcode = None
        self._target = target
        self._args = tuple(args)
        self._kwargs = dict(kwargs)
        self._name = name or type(self).__name__ + "-" + ":".join(str(i) for i in self._identity)
        self._daemonic = parent.daemon if daemon is None else bool(daemon)
        self._authkey = parent.authkey
        self._ctx = ctx
        self._popen_method = None

    def run(self):
        """The child's work: by default target(*args, **kwargs)."""
        if self._target:
            self._target(*self._args, **self._kwargs)

    def _check_closed(self):
        if self._closed:
            raise ValueError("process object is closed")

    def _method(self):
        if self._ctx is not None:
            return self._ctx.get_start_method()
        if self._start_method is not None:
            return self._start_method
        from . import context
        return context._default_context.get_start_method()

    def start(self):
        """Start the child."""
        self._check_closed()
        if self._handle is not None:
            raise AssertionError("cannot start a process twice")
        if self._parent_pid != os.getpid():
            raise AssertionError("can only start a process object created by current process")
        if _current.daemon and _current is not _main:
            raise AssertionError("daemonic processes are not allowed to have children")
        _cleanup()
        _flush_std()  # or the child would print what is buffered here a second time
        method = self._method()
        if method == "fork":
            self._handle = _mproc.start_fork(self, self._name, self._daemonic)
        elif method == "spawn":
            from . import spawn
            self._handle = spawn.start(self)
        else:
            raise ValueError(f"cannot start a process with start method {method!r}")
        self._popen_method = method
        # Drop the references the child got with its copy (multiprocessing does too).
        del self._target, self._args, self._kwargs
        _children.add(self)

    def _poll(self):
        if self._exitcode is None and self._handle is not None:
            self._exitcode = self._handle.poll()
        return self._exitcode

    def join(self, timeout=None):
        """Wait at most timeout seconds (None: as long as it takes) for the child to end."""
        self._check_closed()
        if self._parent_pid != os.getpid():
            raise AssertionError("can only join a child process")
        if self._handle is None:
            raise AssertionError("can only join a started process")
        if self._exitcode is None:
            self._exitcode = self._handle.join(timeout)
        if self._exitcode is not None:
            _children.discard(self)

    def is_alive(self):
        """Whether the child runs (it is not reaped by this call)."""
        self._check_closed()
        if self is _current:
            return True
        if self._parent_pid != os.getpid():
            raise AssertionError("can only test a child process")
        if self._handle is None:
            return False
        if self._poll() is None:
            return True
        _children.discard(self)
        return False

    def terminate(self):
        """Send SIGTERM (nothing once the child ended)."""
        self._check_closed()
        if self._handle is not None and self._exitcode is None:
            self._handle.signal(signal.SIGTERM)

    def kill(self):
        """Send SIGKILL (nothing once the child ended)."""
        self._check_closed()
        if self._handle is not None and self._exitcode is None:
            self._handle.signal(signal.SIGKILL)

    def close(self):
        """Release the handle; ValueError while the child still runs."""
        if self._closed:
            return
        if self._handle is not None:
            if self._poll() is None:
                raise ValueError("Cannot close a process while it is still running. "
                                 "You should first call join() or terminate().")
            self._handle.close()
            self._handle = None
            _children.discard(self)
        self._closed = True

    @property
    def name(self):
        return self._name

    @name.setter
    def name(self, name):
        if not isinstance(name, str):
            raise TypeError("name must be a string")
        self._name = name

    @property
    def daemon(self):
        return self._daemonic

    @daemon.setter
    def daemon(self, daemonic):
        if self._handle is not None:
            raise AssertionError("process has already started")
        self._daemonic = bool(daemonic)

    @property
    def authkey(self):
        return self._authkey

    @authkey.setter
    def authkey(self, authkey):
        self._authkey = bytes(authkey)

    @property
    def exitcode(self):
        """None while running (or not started), else the exit code (-N: killed by signal N)."""
        self._check_closed()
        return self._poll()

    @property
    def ident(self):
        self._check_closed()
        if self is _current:
            return os.getpid()
        return self._handle.pid if self._handle is not None else None

    pid = ident

    @property
    def sentinel(self):
        """A descriptor (a pidfd) that becomes readable when the child ends."""
        self._check_closed()
        if self._handle is None:
            raise ValueError("process not started")
        return self._handle.sentinel

    def __repr__(self):
        if self is _current:
            status = "started"
        elif self._closed:
            status = "closed"
        elif self._parent_pid != os.getpid():
            status = "unknown"
        elif self._handle is None:
            status = "initial"
        else:
            code = self._poll()
            status = "started" if code is None else ("stopped" if code == 0 else None)
            if status is None:
                status = f"stopped[{_exitcode_name(code)}]"
        extra = f" pid={self.ident}" if self._handle is not None and not self._closed else ""
        return "<%s name=%r%s parent=%s %s%s>" % (
            type(self).__name__, self._name, extra, self._parent_pid, status,
            " daemon" if self._daemonic else "")

    def __getstate__(self):
        # What a spawned child gets: never the handle of the parent's side.
        state = self.__dict__.copy()
        state["_handle"] = None
        state["_ctx"] = None
        return state

    def _bootstrap(self, parent_sentinel=None):
        """Run in the child: run(), then the exit code (multiprocessing's rules)."""
        global _current, _parent, _children, _counter
        exitcode = 1
        try:
            _children = set()
            _counter = itertools.count(1)  # this child's children: <its name>:1, :2, ...
            _current = self
            _parent = _ParentProcess(self._parent_name, self._parent_pid, parent_sentinel)
            _run_multiprocessing_after_fork()
            try:
                self.run()
                exitcode = 0
            finally:
                _exit_children()
        except SystemExit as e:
            code = e.code
            if code is None:
                exitcode = 0
            elif isinstance(code, int):
                exitcode = code
            else:
                sys.stderr.write(str(code) + "\n")
                exitcode = 1
        except BaseException:
            exitcode = 1
            import traceback
            sys.stderr.write(f"Process {self.name}:\n")
            traceback.print_exc()
        finally:
            try:
                threading._shutdown()
            except BaseException:
                pass
            _flush_std()
        return exitcode


def _become_pool_worker(name, number, daemon=True):
    """In a Pool worker the C pool forked: look like multiprocessing's
    workers. current_process() is a Process named name ("ForkPoolWorker-3")
    with _identity (number,), a daemon if daemon, parent_process() the
    pool's owner."""
    global _current, _parent, _children, _counter
    parent = _current
    me = Process.__new__(Process)
    me.__dict__.update(parent.__dict__)
    me._identity = (number,)
    me._name = name
    me._daemonic = bool(daemon)
    me._parent_pid = os.getppid()
    me._parent_name = parent.name
    me._handle = None
    me._closed = False
    me._exitcode = None
    me._target, me._args, me._kwargs = None, (), {}
    me._ctx = None
    me._popen_method = None
    _children = set()
    _counter = itertools.count(1)
    _current = me
    _parent = _ParentProcess(parent.name, me._parent_pid, None)


BaseProcess = Process  # multiprocessing.process's name for the class


def _run_multiprocessing_after_fork():
    """In a forked child: the after-fork steps multiprocessing's own children
    run (util._run_after_forkers), when the program uses multiprocessing's
    objects next to mproc's: a Manager's proxies then open their own
    connections instead of sharing the parent's. A spawned child starts
    fresh and has none registered."""
    util = sys.modules.get("multiprocessing.util")
    if util is None:
        return
    run = getattr(util, "_run_after_forkers", None)
    if run is not None:
        run()


def _flush_std():
    for f in (sys.stdout, sys.stderr):
        try:
            if f is not None:
                f.flush()
        except (AttributeError, ValueError, OSError):
            pass


def _exitcode_name(code):
    if code < 0:
        try:
            return signal.Signals(-code).name
        except ValueError:
            pass
    return "exitcode=%s" % code


class _MainProcess(Process):
    def __init__(self):
        self._identity = ()
        self._name = "MainProcess"
        self._parent_pid = None
        self._handle = None
        self._closed = False
        self._exitcode = None
        self._daemonic = False
        self._authkey = os.urandom(32)
        self._ctx = None
        self._popen_method = None

    def close(self):
        pass


class _ParentProcess(Process):
    """What a child knows about its parent: name, pid, is_alive, join, sentinel."""

    def __init__(self, name, pid, sentinel=None):
        self._identity = ()
        self._name = name
        self._pid = pid
        self._parent_pid = None
        self._handle = None
        self._closed = False
        self._exitcode = None
        self._daemonic = False
        self._authkey = b""
        self._ctx = None
        self._sentinel = sentinel

    def is_alive(self):
        alive = _mproc.parent_alive()
        if alive is None:
            alive = os.getppid() == self._pid
        return alive

    @property
    def ident(self):
        return self._pid

    pid = ident

    @property
    def sentinel(self):
        if self._sentinel is None:
            fd = _mproc.pidfd_open(self._pid)
            if not self.is_alive():  # the pid may already name another process
                os.close(fd)
                r, w = os.pipe()  # a descriptor that reads as "ended" at once
                os.close(w)
                fd = r
            self._sentinel = fd
        return self._sentinel

    def join(self, timeout=None):
        from .connection import wait
        wait([self.sentinel], timeout=timeout)

    def __repr__(self):
        return f"<_ParentProcess name={self._name!r} parent={self._pid} unknown>"


def _exit_children():
    """At exit: terminate daemon children, then join every child (multiprocessing's order)."""
    for p in active_children():
        if p.daemon:
            try:
                p.terminate()
            except (OSError, ValueError):
                pass
    for p in active_children():
        try:
            p.join()
        except (OSError, ValueError, AssertionError):
            pass


_main = _MainProcess()
_current = _main
_parent = None

import atexit  # noqa: E402

atexit.register(lambda: _exit_children() if _current is _main else None)
