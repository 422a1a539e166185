"""Parent and child bounce a counter over a duplex Pipe; poll(timeout) is
used to notice a quiet line, and EOFError ends the conversation."""
from multiprocessing import Pipe, Process


def player(conn):
    while True:
        msg = conn.recv()
        if msg == "stop":
            conn.send("bye")
            break
        conn.send(msg + 1)
    conn.close()


if __name__ == "__main__":
    parent, child = Pipe()
    p = Process(target=player, args=(child,))
    p.start()
    child.close()
    print("poll before sending:", parent.poll(0.1))
    n = 0
    for _ in range(100):
        parent.send(n)
        n = parent.recv() + 1
    print("after 100 rounds:", n)
    parent.send("stop")
    print(parent.recv())
    p.join()
    print("child exit code:", p.exitcode)
    try:
        print(parent.poll(1.0))
        parent.recv()
    except EOFError:
        print("EOFError after the child closed its end")
    parent.close()
