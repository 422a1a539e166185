"""mproc.synchronize: multiprocessing's locks, semaphores, conditions, events
and barriers, across forked processes, and what survivors see when a holder
is SIGKILLed."""
import errno
import os
import pickle
import signal
import threading
import time

import pytest

import mproc
from mproc import sharedctypes
from mproc.synchronize import (Barrier, BoundedSemaphore, Condition, Event, Lock, RLock,
                               Semaphore)

from forkutil import Signal, fork, join, kill


def in_thread(fn):
    out = {}

    def run():
        try:
            out["r"] = fn()
        except BaseException as e:  # noqa: B902
            out["e"] = e
    t = threading.Thread(target=run)
    t.start()
    t.join(20)
    return out


# Lock ------------------------------------------------------------------------

def test_lock_acquire_release_and_context_manager():
    lk = Lock()
    assert lk.acquire() is True
    assert lk._is_mine()
    lk.release()
    assert not lk._is_mine()
    with lk:
        assert lk._is_mine()
    assert lk.acquire(block=False) is True
    lk.release()
    assert lk.acquire(True, 1) is True
    lk.release()


def test_lock_try_and_timeout_when_held_elsewhere():
    lk = Lock()
    ready, done = Signal(), Signal()

    def holder():
        lk.acquire()
        ready.set()
        done.wait()
        lk.release()
    pid = fork(holder)
    ready.wait()
    assert lk.acquire(False) is False
    t0 = time.monotonic()
    assert lk.acquire(timeout=0.2) is False
    assert time.monotonic() - t0 >= 0.19
    assert lk.acquire(timeout=-1) is False  # negative: try once
    done.set()
    assert join(pid) == 0
    assert lk.acquire(timeout=5) is True
    lk.release()
    ready.close()
    done.close()


def test_lock_release_errors_match_multiprocessing():
    lk = Lock()
    with pytest.raises(ValueError, match="released too many times"):
        lk.release()
    lk.acquire()
    out = in_thread(lk.release)
    assert isinstance(out.get("e"), RuntimeError)  # only the owner may release
    lk.release()


def test_lock_reacquire_by_its_holder_times_out_or_refuses():
    lk = Lock()
    lk.acquire()
    assert lk.acquire(False) is False
    assert lk.acquire(timeout=0.05) is False
    with pytest.raises(RuntimeError, match="forever"):
        lk.acquire()
    lk.release()


def test_lock_excludes_across_processes():
    lk = Lock()
    counter = sharedctypes.RawValue("i", 0)

    def work():
        for _ in range(2000):
            with lk:
                v = counter.value
                counter.value = v + 1
    pids = [fork(work) for _ in range(3)]
    assert [join(p) for p in pids] == [0, 0, 0]
    assert counter.value == 6000


def test_lock_holder_killed_gives_owner_dead_then_make_consistent():
    lk = Lock()
    ready = Signal()

    def holder():
        lk.acquire()
        ready.set()
        time.sleep(60)
    pid = fork(holder)
    ready.wait()
    kill(pid)
    with pytest.raises(mproc.OwnerDeadError):
        lk.acquire(timeout=5)
    assert lk._is_mine()  # the caller holds it now
    lk.make_consistent()
    lk.release()
    assert lk.acquire(timeout=1) is True
    lk.release()
    ready.close()


def test_lock_released_without_repair_becomes_unusable():
    lk = Lock()
    ready = Signal()

    def holder():
        lk.acquire()
        ready.set()
        time.sleep(60)
    pid = fork(holder)
    ready.wait()
    kill(pid)
    with pytest.raises(mproc.OwnerDeadError):
        lk.acquire(False)
    with pytest.raises(mproc.MprocError) as ei:
        lk.release()
    assert ei.value.errno == errno.ENOTRECOVERABLE
    with pytest.raises(mproc.MprocError):
        lk.acquire(False)
    ready.close()


def test_lock_wait_releases_the_gil_and_sees_signals():
    lk = Lock()
    ready, done = Signal(), Signal()

    def holder():
        lk.acquire()
        ready.set()
        done.wait()
    pid = fork(holder)
    ready.wait()
    ticks = []
    stop = threading.Event()

    def ticker():
        while not stop.is_set():
            ticks.append(1)
            time.sleep(0.01)
    t = threading.Thread(target=ticker)
    t.start()

    class Interrupted(Exception):
        pass

    def handler(signum, frame):
        raise Interrupted()
    old = signal.signal(signal.SIGUSR1, handler)
    killer = fork(lambda: (time.sleep(0.4), os.kill(os.getppid(), signal.SIGUSR1)) and None)
    try:
        with pytest.raises(Interrupted):
            lk.acquire()  # forever, but a signal handler's exception ends it
    finally:
        signal.signal(signal.SIGUSR1, old)
        stop.set()
        t.join()
    assert join(killer) == 0
    assert len(ticks) >= 5  # the other thread ran during the wait
    done.set()
    assert join(pid) == 0
    ready.close()
    done.close()


@pytest.mark.parametrize("what", ["semaphore", "event", "condition"])
def test_other_waits_see_signals_too(what):
    sem, ev, cond = Semaphore(0), Event(), Condition()

    class Interrupted(Exception):
        pass

    def handler(signum, frame):
        raise Interrupted()
    old = signal.signal(signal.SIGUSR1, handler)
    killer = fork(lambda: (time.sleep(0.3), os.kill(os.getppid(), signal.SIGUSR1)) and None)
    try:
        with pytest.raises(Interrupted):
            if what == "semaphore":
                sem.acquire()
            elif what == "event":
                ev.wait()
            else:
                with cond:
                    try:
                        cond.wait()
                    finally:
                        assert cond._lock._is_mine()  # the lock came back
    finally:
        signal.signal(signal.SIGUSR1, old)
    assert join(killer) == 0
    assert not cond._lock._is_mine()


# RLock -----------------------------------------------------------------------

def test_rlock_nests_and_counts():
    r = RLock()
    assert r.acquire() and r.acquire()
    assert r._count == 2
    assert "2" in repr(r)
    r.release()
    assert r._is_mine()
    r.release()
    assert not r._is_mine()


def test_rlock_release_by_non_owner_is_an_assertion_error():
    r = RLock()
    with pytest.raises(AssertionError, match="not owned"):
        r.release()
    r.acquire()
    assert isinstance(in_thread(r.release).get("e"), AssertionError)
    r.release()


def test_rlock_holder_killed_gives_owner_dead():
    r = RLock()
    ready = Signal()

    def holder():
        r.acquire()
        r.acquire()
        ready.set()
        time.sleep(60)
    pid = fork(holder)
    ready.wait()
    kill(pid)
    with pytest.raises(mproc.OwnerDeadError):
        r.acquire(timeout=5)
    assert r._count == 1
    r.make_consistent()
    r.release()
    ready.close()


# Semaphore -------------------------------------------------------------------

def test_semaphore_counts():
    s = Semaphore(2)
    assert s.get_value() == 2
    assert s.acquire() and s.acquire(False)
    assert s.acquire(False) is False
    assert s.acquire(timeout=0.05) is False
    s.release()
    assert s.get_value() == 1
    with s:
        assert s.get_value() == 0
    assert s.get_value() == 1
    s.release()
    s.release()  # unbounded
    assert s.get_value() == 3
    assert repr(s) == "<Semaphore(value=3)>"
    with pytest.raises(ValueError):
        Semaphore(-1)


def test_bounded_semaphore_refuses_release_above_its_value():
    s = BoundedSemaphore(2)
    with pytest.raises(ValueError, match="released too many times"):
        s.release()
    s.acquire()
    s.release()
    assert s.get_value() == 2
    assert repr(s) == "<BoundedSemaphore(value=2, maxvalue=2)>"


def test_semaphore_released_by_another_process_wakes_a_waiter():
    s = Semaphore(0)
    pid = fork(lambda: (time.sleep(0.1), s.release()) and None)
    assert s.acquire(timeout=10) is True
    assert join(pid) == 0


def test_semaphore_units_of_a_killed_holder_are_lost():
    s = Semaphore(1)
    ready = Signal()

    def holder():
        s.acquire()
        ready.set()
        time.sleep(60)
    pid = fork(holder)
    ready.wait()
    kill(pid)
    # As with multiprocessing (and POSIX): nobody gives the unit back.
    assert s.acquire(timeout=0.1) is False
    assert s.get_value() == 0
    ready.close()


def test_tracked_semaphore_gets_the_units_of_a_killed_holder_back():
    s = BoundedSemaphore(2, tracked=True)
    ready = Signal()

    def holder():
        s.acquire()
        s.acquire()
        ready.set()
        time.sleep(60)
    pid = fork(holder)
    ready.wait()
    assert s.get_value() == 0
    with pytest.raises(ValueError, match="holds a unit"):
        s.release()  # this process holds none
    kill(pid)
    assert s.acquire(timeout=5) is True
    assert s.get_value() == 1
    s.release()
    ready.close()


# Condition -------------------------------------------------------------------

def test_condition_needs_its_lock():
    c = Condition()
    with pytest.raises(AssertionError, match="must acquire"):
        c.wait(0.01)
    with pytest.raises(AssertionError, match="not owned"):
        c.notify()
    with c:
        assert c.wait(0.05) is False
        assert c.wait_for(lambda: 0, 0.05) == 0
        assert c.wait_for(lambda: 7) == 7
        c.notify()
        c.notify_all()


def test_condition_wait_keeps_the_rlock_depth():
    c = Condition()
    c.acquire()
    c.acquire()
    assert c.wait(0.02) is False
    assert c._lock._count == 2
    c.release()
    c.release()
    assert not c._lock._is_mine()


@pytest.mark.parametrize("lock_cls", [Lock, RLock])
def test_condition_notify_across_processes(lock_cls):
    c = Condition(lock_cls())
    v = sharedctypes.RawValue("i", 0)

    def waiter():
        with c:
            return bool(c.wait_for(lambda: v.value == 3, 20))
    pids = [fork(waiter) for _ in range(2)]
    for i in range(3):
        time.sleep(0.05)
        with c:
            v.value += 1
            c.notify_all()
    assert [join(p) for p in pids] == [0, 0]


def test_condition_notify_wakes_a_waiter():
    c = Condition()
    ready = Event()

    def waiter():
        with c:
            ready.set()
            return c.wait(20)
    pid = fork(waiter)
    assert ready.wait(10)
    time.sleep(0.05)
    with c:
        c.notify()
    assert join(pid) == 0


def test_condition_lock_holder_killed_gives_owner_dead():
    c = Condition(Lock())
    ready = Signal()

    def holder():
        c.acquire()
        ready.set()
        time.sleep(60)
    pid = fork(holder)
    ready.wait()
    kill(pid)
    with pytest.raises(mproc.OwnerDeadError):
        c.acquire(timeout=5)
    c._lock.make_consistent()
    assert c.wait(0.01) is False
    c.release()
    ready.close()


# Event -----------------------------------------------------------------------

def test_event_set_clear_wait():
    e = Event()
    assert not e.is_set()
    assert e.wait(0.05) is False
    assert e.wait(0) is False
    e.set()
    assert e.is_set() and e.wait() is True and e.wait(0) is True
    e.clear()
    assert not e.is_set()
    assert "unset" in repr(e)


def test_event_set_by_another_process_wakes_waiters():
    e = Event()
    pids = [fork(lambda: e.wait(20)) for _ in range(2)]
    time.sleep(0.1)
    e.set()
    assert [join(p) for p in pids] == [0, 0]


# Barrier ---------------------------------------------------------------------

def test_barrier_meets_across_processes():
    b = Barrier(3)
    assert b.parties == 3 and b.n_waiting == 0 and not b.broken
    idx = sharedctypes.RawArray("i", 3)

    def party(k):
        idx[k] = b.wait(20) + 10
    pids = [fork(party, k) for k in range(2)]
    mine = b.wait(20)
    assert [join(p) for p in pids] == [0, 0]
    assert sorted([mine + 10, idx[0], idx[1]]) == [10, 11, 12]


def test_barrier_timeout_breaks_it_and_reset_repairs_it():
    b = Barrier(2, timeout=0.05)
    with pytest.raises(threading.BrokenBarrierError):
        b.wait()
    assert b.broken
    with pytest.raises(threading.BrokenBarrierError):
        b.wait(1)
    b.reset()
    assert not b.broken
    b.abort()
    assert b.broken
    with pytest.raises(ValueError):
        Barrier(0)


def test_barrier_action_runs_once_before_release():
    hits = sharedctypes.RawValue("i", 0)

    def action():
        hits.value += 1
    b = Barrier(2, action=action)
    pid = fork(lambda: b.wait(20) >= 0 and hits.value == 1)
    assert b.wait(20) in (0, 1)
    assert join(pid) == 0
    assert hits.value == 1


def test_barrier_broken_by_a_waiting_party_killed():
    b = Barrier(3)
    pid = fork(lambda: b.wait(60) and None)
    while b.n_waiting < 1:
        time.sleep(0.01)
    kill(pid)
    with pytest.raises(threading.BrokenBarrierError):
        b.wait(20)
    assert b.broken


# Sharing ---------------------------------------------------------------------

@pytest.mark.parametrize("make", [Lock, RLock, Semaphore, BoundedSemaphore, Condition, Event,
                                  lambda: Barrier(2)])
def test_pickling_outside_a_spawn_is_refused(make):
    obj = make()
    with pytest.raises(RuntimeError, match="through inheritance"):
        pickle.dumps(obj)


def test_objects_are_closed_when_collected():
    before = set(os.listdir("/proc/self/fd"))
    objs = [Lock(), RLock(), Semaphore(), Condition(), Event(), Barrier(2, action=print)]
    assert len(set(os.listdir("/proc/self/fd")) - before) >= 6
    del objs
    assert set(os.listdir("/proc/self/fd")) - before == set()


# Handed to a spawned interpreter ----------------------------------------------

CHILD_STAND_IN = """
import os, pickle, sys, types
import mproc
try:
    from mproc import reduction
except ImportError:
    reduction = types.ModuleType("mproc.reduction")
    sys.modules["mproc.reduction"] = mproc.reduction = reduction
reduction.spawning = lambda: True
reduction.recv_fd = lambda token: token
"""


@pytest.fixture
def spawn_pickling(monkeypatch):
    """mproc.reduction's spawn protocol, as a spawn start drives it: the
    tokens are descriptors that the test passes to a fresh interpreter."""
    import sys
    import types
    try:
        from mproc import reduction
    except ImportError:
        reduction = types.ModuleType("mproc.reduction")
        monkeypatch.setitem(sys.modules, "mproc.reduction", reduction)
        monkeypatch.setattr(mproc, "reduction", reduction, raising=False)
    sent = []

    def send_fd(fd):
        sent.append(os.dup(fd))
        return sent[-1]
    monkeypatch.setattr(reduction, "spawning", lambda: True, raising=False)
    monkeypatch.setattr(reduction, "send_fd", send_fd, raising=False)
    yield sent
    for fd in sent:
        os.close(fd)


def run_spawned(data, fds, body):
    import subprocess
    import sys
    code = CHILD_STAND_IN + "objs = pickle.loads(sys.stdin.buffer.read())\n" + body
    subprocess.run([sys.executable, "-c", code], input=data, pass_fds=fds, check=True,
                   timeout=60)


def test_objects_pickled_for_a_spawn_are_the_same_objects_in_the_child(spawn_pickling):
    lk, sem, ev, cond = Lock(), Semaphore(0), Event(), Condition()
    val, arr = sharedctypes.Value("i", 1), sharedctypes.Array("d", 3)
    bar = Barrier(2, timeout=30)
    data = pickle.dumps((lk, sem, ev, cond, val, arr, bar))
    lk.acquire()
    body = """
lk, sem, ev, cond, val, arr, bar = objs
assert lk.acquire(False) is False        # the parent holds it
assert val.value == 1
val.value = 42
arr[2] = 2.5
with val.get_lock():
    pass
with cond:
    cond.notify_all()
sem.release()
ev.set()
bar.wait()
"""
    import threading as th
    t = th.Thread(target=run_spawned, args=(data, spawn_pickling, body))
    t.start()
    assert bar.wait() in (0, 1)
    t.join(60)
    lk.release()
    assert sem.get_value() == 1 and ev.is_set()
    assert val.value == 42 and arr[:] == [0.0, 0.0, 2.5]


def test_raw_objects_travel_to_a_spawned_child(spawn_pickling):
    from mproc import reduction
    raw = sharedctypes.RawArray("h", 2)
    data = reduction.dumps(raw)
    run_spawned(data, spawn_pickling, "objs[1] = 5\n")
    assert list(raw) == [0, 5]


def _spawned_child(lk, sem, val, arr, bar):
    assert lk.acquire(False) is False  # the parent holds it
    val.value = 42
    arr[1] = 3.5
    sem.release()
    bar.wait()


def test_objects_reach_a_child_started_by_spawn():
    ctx = mproc.get_context("spawn")
    lk, sem, bar = ctx.Lock(), ctx.Semaphore(0), ctx.Barrier(2, timeout=30)
    val, arr = ctx.Value("i", 1), ctx.Array("d", 3)
    lk.acquire()
    p = ctx.Process(target=_spawned_child, args=(lk, sem, val, arr, bar))
    p.start()
    bar.wait()
    p.join(30)
    lk.release()
    assert p.exitcode == 0
    assert val.value == 42 and arr[:] == [0.0, 3.5, 0.0] and sem.get_value() == 1
