"""Forked children for the tests: a child runs a function and reports through
its exit status (0 = it returned normally); only the test's own process
asserts."""
import os
import signal
import sys
import time
import traceback


def fork(fn, *args):
    """Run fn(*args) in a forked child; its pid. Exit 0 if fn returned None
    or True, 1 if it returned something false, 99 if it raised."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        code = 99
        try:
            signal.signal(signal.SIGALRM, signal.SIG_DFL)
            r = fn(*args)
            code = 0 if r is None or r is True else (r if isinstance(r, int) else 1)
        except BaseException:
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    return pid


def join(pid, timeout=30.0):
    """The child's exit code (or -signal); SIGKILL it if it runs past timeout."""
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise AssertionError("child %d ran past %.0f s" % (pid, timeout))
        time.sleep(0.005)


def kill(pid):
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)


class Signal:
    """A one-shot pipe: the child says it reached a point, the parent waits."""

    def __init__(self):
        self.r, self.w = os.pipe()

    def set(self):
        os.write(self.w, b"x")

    def wait(self, timeout=20.0):
        import select
        ready, _, _ = select.select([self.r], [], [], timeout)
        assert ready, "the child never signalled"
        os.read(self.r, 1)

    def close(self):
        os.close(self.r)
        os.close(self.w)
