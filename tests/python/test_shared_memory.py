"""mproc.shared_memory: SharedMemory (named segments, .buf as a writable
buffer numpy accepts, close/unlink) and ShareableList (multiprocessing's
layout)."""
import os
import pickle
import subprocess
import sys
from multiprocessing import resource_tracker

import pytest

from mproc.shared_memory import ShareableList, SharedMemory

from forkutil import fork, join

# The layout test uses multiprocessing's ShareableList, whose resource
# tracker is a child process that outlives every test: start it first.
resource_tracker.ensure_running()


def entry(name):
    return "/dev/shm/mproc-" + name


def test_create_with_a_random_name_write_and_unlink():
    shm = SharedMemory(create=True, size=100)
    try:
        assert shm.size == 100 and len(shm.buf) == 100
        assert shm.name and os.path.exists(entry(shm.name))
        assert oct(os.stat(entry(shm.name)).st_mode & 0o777) == "0o600"
        shm.buf[:5] = b"hello"
        assert bytes(shm.buf[:5]) == b"hello"
        assert repr(shm) == "SharedMemory(%r, size=100)" % shm.name
    finally:
        shm.close()
        shm.unlink()
    assert not os.path.exists(entry(shm.name))
    assert shm.buf is None
    with pytest.raises(FileNotFoundError):
        SharedMemory(shm.name)


def test_named_segment_opened_by_an_unrelated_process():
    name = "pysync-test-%d" % os.getpid()
    shm = SharedMemory(name, create=True, size=64)
    try:
        code = ("from mproc.shared_memory import SharedMemory\n"
                "s = SharedMemory(%r)\n"
                "assert s.size == 64 and bytes(s.buf[:2]) == b'hi'\n"
                "s.buf[2:4] = b'yo'\n"
                "s.close()\n" % name)
        shm.buf[:2] = b"hi"
        subprocess.run([sys.executable, "-c", code], check=True, timeout=30)
        assert bytes(shm.buf[:4]) == b"hiyo"
        other = SharedMemory("/" + name)  # Python callers may write a slash
        assert other.name == name
        other.close()
    finally:
        shm.close()
        shm.unlink()


def test_bad_arguments_and_missing_or_taken_names():
    with pytest.raises(ValueError):
        SharedMemory(create=True, size=0)
    with pytest.raises(ValueError):
        SharedMemory(create=True, size=-1)
    with pytest.raises(ValueError):
        SharedMemory()
    with pytest.raises(FileNotFoundError):
        SharedMemory("pysync-no-such-segment")
    with pytest.raises(ValueError):
        SharedMemory("bad/name", create=True, size=8)
    shm = SharedMemory(create=True, size=8)
    try:
        with pytest.raises(FileExistsError):
            SharedMemory(shm.name, create=True, size=8)
    finally:
        shm.close()
        shm.unlink()
    with pytest.raises(FileNotFoundError):
        shm.unlink()


def test_close_refuses_while_a_view_holds_the_buffer():
    shm = SharedMemory(create=True, size=16)
    view = shm.buf[4:]
    with pytest.raises(BufferError):
        shm.close()
    view.release()
    mv = memoryview(shm)
    with pytest.raises(BufferError):
        shm.close()
    mv.release()
    shm.close()
    shm.close()  # twice is fine
    shm.unlink()


def test_numpy_array_on_buf_across_fork():
    np = pytest.importorskip("numpy")
    shm = SharedMemory(create=True, size=8 * 1000)
    a = np.ndarray((1000,), dtype=np.int64, buffer=shm.buf)
    a[:] = 0

    def child():
        a[:] = np.arange(1000)
        return bool(a.sum() == 499500)
    assert join(fork(child)) == 0
    assert int(a.sum()) == 499500 and a[999] == 999
    del a
    shm.close()
    shm.unlink()


def test_pickles_by_name():
    shm = SharedMemory(create=True, size=32)
    try:
        shm.buf[0] = 7
        other = pickle.loads(pickle.dumps(shm))
        assert other.name == shm.name and other.size == 32 and other.buf[0] == 7
        other.close()
    finally:
        shm.close()
        shm.unlink()


def test_shareable_list_items_assignment_count_index():
    sl = ShareableList([1, 2.5, True, "ab", b"x", None])
    try:
        assert list(sl) == [1, 2.5, True, "ab", b"x", None]
        assert len(sl) == 6 and sl[-1] is None and sl[2] is True
        sl[0] = 42
        sl[3] = "wxyz"
        sl[5] = 3.5
        sl[4] = None
        assert list(sl) == [42, 2.5, True, "wxyz", None, 3.5]
        with pytest.raises(ValueError, match="exceeds"):
            sl[3] = "x" * 9
        with pytest.raises(IndexError):
            sl[6]
        with pytest.raises(IndexError):
            sl[6] = 1
        assert sl.count(None) == 1 and sl.index(3.5) == 5
        with pytest.raises(ValueError):
            sl.index("missing")
        with pytest.raises(TypeError):
            ShareableList([[1]])
        other = ShareableList(name=sl.shm.name)
        assert list(other) == list(sl)
        other[1] = -1.0
        assert sl[1] == -1.0
        copy = pickle.loads(pickle.dumps(sl))
        assert list(copy) == list(sl)
        other.shm.close()
        copy.shm.close()
    finally:
        sl.shm.close()
        sl.shm.unlink()


def test_shareable_list_has_multiprocessing_layout():
    from multiprocessing import shared_memory as mpsm
    items = [7, -1.25, False, "hello world", b"\x01\x02", None, ""]
    ours = ShareableList(items)
    theirs = mpsm.ShareableList(items)
    try:
        assert ours.format == theirs.format
        assert ours.shm.size == theirs.shm.size
        assert bytes(ours.shm.buf) == bytes(theirs.shm.buf[:ours.shm.size])
    finally:
        ours.shm.close()
        ours.shm.unlink()
        theirs.shm.close()
        theirs.shm.unlink()


def test_shareable_list_in_a_forked_child():
    sl = ShareableList([0, "", 0.0])

    def child():
        sl[0] = 5
        sl[1] = "kid"
        sl[2] = 2.0
    assert join(fork(child)) == 0
    assert list(sl) == [5, "kid", 2.0]
    sl.shm.close()
    sl.shm.unlink()


def test_attaching_to_a_foreign_segment_is_refused():
    shm = SharedMemory(create=True, size=8)
    try:
        shm.buf[:8] = (10**6).to_bytes(8, "little")
        with pytest.raises(ValueError):
            ShareableList(name=shm.name)
    finally:
        shm.close()
        shm.unlink()
