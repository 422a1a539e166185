"""Queue, SimpleQueue, JoinableQueue: behaviour, timeouts, crashes, exit."""
import os
import queue
import signal
import threading
import time

import pytest

import mproc
from mproc import _mproc


def _put_range(q, n):
    for i in range(n):
        q.put(i)
    # exit at once: a synchronous put loses nothing


def test_put_get_objects_and_sizes():
    q = mproc.Queue()
    try:
        assert q.empty() and q.qsize() == 0
        for obj in ([42, None, "hello"], b"raw bytes", b"", {"a": (1, 2.5)}, 10 ** 30):
            q.put(obj)
        assert q.qsize() == 5 and not q.empty()
        assert q.get() == [42, None, "hello"]
        assert q.get() == b"raw bytes"
        assert q.get() == b""
        assert q.get() == {"a": (1, 2.5)}
        assert q.get_nowait() == 10 ** 30
        assert q.empty()
    finally:
        q.close()


def test_get_times_out_with_empty_and_nowait_raises_at_once():
    q = mproc.Queue()
    try:
        t0 = time.monotonic()
        with pytest.raises(queue.Empty):
            q.get(timeout=0.2)
        assert 0.15 <= time.monotonic() - t0 < 5
        with pytest.raises(queue.Empty):
            q.get(block=False)
        with pytest.raises(queue.Empty):
            q.get_nowait()
    finally:
        q.close()


def test_maxsize_bounds_the_queue_and_put_times_out_with_full():
    q = mproc.Queue(2)
    try:
        q.put(1)
        q.put(2)
        assert q.full()
        with pytest.raises(queue.Full):
            q.put(3, timeout=0.1)
        with pytest.raises(queue.Full):
            q.put_nowait(3)
        assert q.get() == 1
        q.put(3, block=False)
        assert [q.get(), q.get()] == [2, 3]
    finally:
        q.close()


def test_nothing_is_lost_when_the_producer_exits_right_after_put():
    q = mproc.Queue()
    p = mproc.Process(target=_put_range, args=(q, 5000))
    p.start()
    got = [q.get(timeout=10) for _ in range(5000)]
    p.join()
    assert got == list(range(5000)) and p.exitcode == 0
    q.close()


def test_unpicklable_object_fails_in_the_caller_and_enqueues_nothing():
    q = mproc.Queue()
    try:
        with pytest.raises((TypeError, AttributeError, Exception)) as e:
            q.put(lambda: 1)
        assert "pickle" in str(e.value).lower()
        with pytest.raises(TypeError):
            q.put(threading.Lock())
        assert q.empty()
    finally:
        q.close()


def test_message_larger_than_the_ring_travels_through_a_file():
    def spill_files():
        return {n for n in os.listdir("/dev/shm") if n.startswith("mproc-pyq-")}

    before = spill_files()
    q = mproc.Queue(capacity=1 << 16)
    try:
        big = os.urandom(1 << 18)
        q.put(big)
        q.put([big, "x"])
        q.put(b"y" * 1000)
        mine = spill_files() - before
        assert len(mine) == 2
        assert q.get() == big
        assert q.get() == [big, "x"]
        assert q.get() == b"y" * 1000
        assert not mine & spill_files()
    finally:
        q.close()


def test_a_spilled_message_that_times_out_leaves_no_file():
    q = mproc.Queue(1, capacity=1 << 16)
    try:
        q.put(1)
        before = set(os.listdir("/dev/shm"))
        with pytest.raises(queue.Full):
            q.put(b"z" * (1 << 18), timeout=0.1)
        assert not [n for n in set(os.listdir("/dev/shm")) - before if n.startswith("mproc-pyq-")]
    finally:
        q.close()


def test_a_forged_spill_name_is_refused():
    from mproc import queues
    with pytest.raises(ValueError):
        queues._unspill(b"\x08../../etc/passwd")


def test_closed_queue_raises_valueerror():
    q = mproc.Queue()
    q.close()
    with pytest.raises(ValueError):
        q.put(1)
    with pytest.raises(ValueError):
        q.get()
    q.close()  # twice is fine
    q.join_thread()
    q.cancel_join_thread()


def test_joinable_queue_task_done_and_join():
    q = mproc.JoinableQueue()
    try:
        q.put("a")
        q.put("b")
        q.get()
        q.task_done()
        assert q.join(timeout=0.1) is False
        q.get()
        q.task_done()
        assert q.join() is True
        with pytest.raises(ValueError):
            q.task_done()
    finally:
        q.close()


def test_simple_queue():
    q = mproc.SimpleQueue()
    try:
        assert q.empty()
        q.put((1, "x"))
        assert not q.empty()
        assert q.get() == (1, "x")
    finally:
        q.close()


def _put_killed(q):
    _mproc._fault_arm("queue.put.reserved")
    q.put("this one dies with its writer")


@pytest.mark.skipif(not hasattr(_mproc, "_fault_arm"), reason="needs a test build (kill points)")
def test_participant_sigkilled_mid_put_leaves_the_queue_usable():
    q = mproc.Queue()
    q.put("before")
    p = mproc.Process(target=_put_killed, args=(q,))
    p.start()
    p.join(10)
    assert p.exitcode == -signal.SIGKILL
    q.put("after")
    got = [q.get(timeout=5), q.get(timeout=5)]
    assert got == ["before", "after"]
    with pytest.raises(queue.Empty):
        q.get(timeout=0.3)
    q.close()


def test_sigint_interrupts_a_blocking_get():
    q = mproc.Queue()
    t = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    t.start()
    try:
        t0 = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            q.get()
        assert time.monotonic() - t0 < 5
    finally:
        t.join()
        q.close()


def _consume(q, out, n):
    out.put(sum(q.get() for _ in range(n)))


def test_many_producers_and_consumers_deliver_each_message_once():
    q, out = mproc.Queue(), mproc.Queue()
    cons = [mproc.Process(target=_consume, args=(q, out, 500)) for _ in range(2)]
    prods = [mproc.Process(target=_put_range, args=(q, 500)) for _ in range(2)]
    for p in cons + prods:
        p.start()
    total = out.get(timeout=20) + out.get(timeout=20)
    for p in cons + prods:
        p.join()
    assert total == 2 * sum(range(500))
    q.close()
    out.close()


def test_scalars_and_tuples_keep_their_exact_values_and_types():
    items = [0, -1, 2 ** 63 - 1, -2 ** 63, 2 ** 63, -2 ** 64, True, False, "", "héllo €",
             b"\x00\x80", bytearray(b"ba"), 1.5, float("inf"), None, (), (1, "a", 2.0, None),
             (b"x", True, -7, "é" * 100), (1, (2, 3)), ("x" * 1000,), tuple(range(40)),
             (2 ** 70, 1), [1, 2]]
    q = mproc.Queue()
    try:
        for x in items:
            q.put(x)
        got = [q.get() for _ in items]
        assert got == items
        assert [type(x) for x in got] == [type(x) for x in items]
    finally:
        q.close()
