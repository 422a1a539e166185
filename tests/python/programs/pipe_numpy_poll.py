"""numpy arrays and big bytes through a Pipe; recv_bytes(maxlength)."""
import multiprocessing as mp
import numpy as np


def worker(conn):
    while True:
        a = conn.recv()
        if a is None:
            break
        conn.send(a * 2)
    conn.send_bytes(b"z" * 100)
    conn.close()


if __name__ == "__main__":
    a, b = mp.Pipe()
    p = mp.Process(target=worker, args=(b,))
    p.start()
    for shape in [(3,), (2, 3), (500, 500)]:
        a.send(np.ones(shape, dtype=np.int32))
        r = a.recv()
        print(r.shape, r.dtype, int(r.sum()))
    a.send(None)
    try:
        a.recv_bytes(maxlength=10)
    except OSError as e:
        print("OSError:", e)
    p.join()
    print(p.exitcode)
