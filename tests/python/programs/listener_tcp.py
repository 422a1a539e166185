"""A Listener on a TCP port of localhost (the port picked by the kernel)
and a Client in a child process."""
from multiprocessing import Process
from multiprocessing.connection import Listener, Client


def client(address):
    conn = Client(address, authkey=b"k")
    conn.send(sum(range(10)))
    conn.close()


if __name__ == "__main__":
    listener = Listener(("localhost", 0), authkey=b"k")
    p = Process(target=client, args=(listener.address,))
    p.start()
    conn = listener.accept()
    print("got", conn.recv())
    conn.close()
    p.join()
    listener.close()
    print("exit", p.exitcode)
