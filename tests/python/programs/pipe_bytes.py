"""send_bytes / recv_bytes / recv_bytes_into over a one-way Pipe."""
import multiprocessing as mp
import array


def sender(w):
    w.send_bytes(b"hello world", 6, 5)
    w.send_bytes(bytes(range(10)))
    w.send_bytes(array.array("i", [1, 2, 3, 4]))
    w.close()


if __name__ == "__main__":
    r, w = mp.Pipe(duplex=False)
    p = mp.Process(target=sender, args=(w,))
    p.start()
    w.close()
    print(r.recv_bytes())
    buf = bytearray(16)
    n = r.recv_bytes_into(buf)
    print(n, bytes(buf[:n]))
    arr = array.array("i", [0] * 6)
    n = r.recv_bytes_into(arr, 4)
    print(n, arr.tolist())
    p.join()
    try:
        r.recv_bytes()
    except EOFError:
        print("EOF")
    print("readable", r.readable, "writable", r.writable)
    r.close()
    print("closed", r.closed)
