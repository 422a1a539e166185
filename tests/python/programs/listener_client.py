"""A Listener in the parent, a Client in a child, objects both ways."""
from multiprocessing import Process
from multiprocessing.connection import Listener, Client
import os

ADDRESS = "/tmp/mproc-prog-listener-%d.sock" % os.getpid()


def client(address):
    with Client(address, authkey=b"secret") as conn:
        conn.send(["ping", 1])
        print("client got", conn.recv(), flush=True)


if __name__ == "__main__":
    with Listener(ADDRESS, authkey=b"secret") as listener:
        p = Process(target=client, args=(listener.address,))
        p.start()
        with listener.accept() as conn:
            msg = conn.recv()
            print("server got", msg, flush=True)
            conn.send(msg + ["pong"])
        p.join()
    print("exit", p.exitcode)
