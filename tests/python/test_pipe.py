"""Pipe and Connection, wait, Listener/Client."""
import os
import signal
import threading
import time

import pytest

import mproc
from mproc.connection import Client, Listener, wait


def test_send_recv_objects_and_bytes_both_ways():
    a, b = mproc.Pipe()
    with a, b:
        a.send([42, None, "hello"])
        assert b.recv() == [42, None, "hello"]
        b.send_bytes(b"0123456789", 2, 5)
        assert a.recv_bytes() == b"23456"
        big = os.urandom(1 << 20)
        got = []
        t = threading.Thread(target=lambda: got.append(b.recv()))
        t.start()
        a.send(big)
        t.join(30)
        assert got == [big]
        a.send_bytes(b"")
        assert b.recv_bytes() == b""
    assert a.closed and b.closed


def test_recv_bytes_into_with_offset_and_buffer_too_short():
    a, b = mproc.Pipe()
    with a, b:
        buf = bytearray(8)
        a.send_bytes(b"abc")
        assert b.recv_bytes_into(buf, 4) == 3
        assert bytes(buf) == b"\0\0\0\0abc\0"
        a.send_bytes(b"x" * 20)
        with pytest.raises(mproc.BufferTooShort) as e:
            b.recv_bytes_into(buf)
        assert e.value.args[0] == b"x" * 20


def test_recv_bytes_maxlength():
    a, b = mproc.Pipe()
    with a, b:
        a.send_bytes(b"x" * 100)
        with pytest.raises(OSError):
            b.recv_bytes(10)


def test_poll_with_timeout_and_eof_after_peer_close():
    a, b = mproc.Pipe()
    with b:
        assert b.poll() is False
        t0 = time.monotonic()
        assert b.poll(0.2) is False
        assert time.monotonic() - t0 >= 0.15
        a.send(1)
        assert b.poll(5) is True
        a.close()
        assert b.recv() == 1
        with pytest.raises(EOFError):
            b.recv()


def test_one_way_pipe_has_a_reader_and_a_writer():
    r, w = mproc.Pipe(duplex=False)
    with r, w:
        assert r.readable and not r.writable and w.writable and not w.readable
        w.send("x")
        assert r.recv() == "x"
        with pytest.raises(OSError):
            r.send("no")
        with pytest.raises(OSError):
            w.recv()


def test_send_to_a_closed_peer_is_brokenpipeerror():
    a, b = mproc.Pipe()
    b.close()
    with a, pytest.raises(BrokenPipeError):
        for _ in range(100):
            a.send_bytes(b"x" * 65536)


def test_unpicklable_object_fails_in_the_caller():
    a, b = mproc.Pipe()
    with a, b:
        with pytest.raises(Exception, match="(?i)pickle"):
            a.send(lambda: 0)
        assert not b.poll(0.05)


def _echo(conn, other):
    other.close()
    with conn:
        while True:
            try:
                conn.send(conn.recv())
            except EOFError:
                return


def test_child_echoes_until_eof():
    a, b = mproc.Pipe()
    p = mproc.Process(target=_echo, args=(b, a))
    p.start()
    b.close()
    for i in range(100):
        a.send(i)
        assert a.recv() == i
    a.close()
    p.join(10)
    assert p.exitcode == 0


def test_wait_on_connections_sentinels_and_fileno_objects():
    a, b = mproc.Pipe()
    r, w = os.pipe()
    with a, b:
        try:
            assert wait([a, r], timeout=0.1) == []
            b.send("ready")
            assert wait([a, r], timeout=5) == [a]
            a.recv()
            os.write(w, b"!")
            assert wait([a, r], timeout=5) == [r]
            p = mproc.Process(target=time.sleep, args=(0,))
            p.start()
            assert wait([p.sentinel], timeout=10) == [p.sentinel]
            p.join()
        finally:
            os.close(r)
            os.close(w)


def test_sigint_interrupts_a_blocking_recv():
    a, b = mproc.Pipe()
    t = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    t.start()
    with a, b:
        try:
            with pytest.raises(KeyboardInterrupt):
                b.recv()
        finally:
            t.join()


def _client(name):
    with Client(name, timeout=10) as c:
        c.send(c.recv() + 1)


def test_listener_and_client_by_name():
    name = "pytest-" + os.urandom(4).hex()
    with Listener(name) as listener:
        assert listener.address == name
        p = mproc.Process(target=_client, args=(name,))
        p.start()
        conn = listener.accept()
        with conn:
            conn.send(41)
            assert conn.recv() == 42
        p.join(10)
        assert p.exitcode == 0
    with pytest.raises(ConnectionRefusedError):
        Client(name, timeout=0)


def test_listener_and_client_by_socket_path_as_multiprocessing_takes_it(tmp_path):
    # multiprocessing's AF_UNIX addresses are socket paths; mproc refused
    # them (ValueError) and the program stopped there.
    path = str(tmp_path / "service.sock")
    with Listener(path, authkey=b"ignored") as listener:
        assert listener.address == path and os.path.exists(path)
        assert listener.accept(timeout=0.05) is None
        p = mproc.Process(target=_client, args=(path,))
        p.start()
        with listener.accept(timeout=10) as conn:
            assert listener.last_accepted == path
            conn.send(41)
            assert conn.recv() == 42
        p.join(10)
        assert p.exitcode == 0
    assert not os.path.exists(path)
    with pytest.raises(FileNotFoundError):
        Client(path)


def test_listener_on_an_abstract_socket_address():
    address = "\0mproc-pytest-" + os.urandom(4).hex()
    with Listener(address) as listener:
        with Client(address) as c, listener.accept(timeout=10) as s:
            c.send_bytes(b"over the abstract socket")
            assert s.recv_bytes() == b"over the abstract socket"
    with pytest.raises(ConnectionRefusedError):
        Client(address)


def test_connection_cannot_be_pickled_outside_a_spawn():
    import pickle
    a, b = mproc.Pipe()
    with a, b, pytest.raises(RuntimeError, match="inheritance"):
        pickle.dumps(a)


def test_one_thread_sends_while_another_receives_on_the_same_end():
    a, b = mproc.Pipe()
    msgs = [bytes([i]) * (100_000 + i) for i in range(40)]
    got_a, got_b = [], []

    def send_all(conn):
        for m in msgs:
            conn.send(m)

    def recv_all(conn, out):
        for _ in msgs:
            out.append(conn.recv())

    with a, b:
        threads = [threading.Thread(target=send_all, args=(a,)),
                   threading.Thread(target=recv_all, args=(a, got_a)),
                   threading.Thread(target=send_all, args=(b,)),
                   threading.Thread(target=recv_all, args=(b, got_b))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert got_a == msgs and got_b == msgs


def test_poll_and_recv_bytes_take_their_arguments_by_keyword():
    # multiprocessing's poll(timeout=0.0) and recv_bytes(maxlength=None):
    # programs write conn.poll(timeout=1); mproc took them by position only.
    a, b = mproc.Pipe()
    with a, b:
        assert a.poll(timeout=0.01) is False
        b.send_bytes(b"abc")
        assert a.poll(timeout=5) is True
        assert a.recv_bytes(maxlength=10) == b"abc"
        b.send_bytes(b"z" * 100)
        with pytest.raises(OSError):
            a.recv_bytes(maxlength=10)
