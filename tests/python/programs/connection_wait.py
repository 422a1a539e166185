"""connection.wait over several Pipes and process sentinels."""
import multiprocessing as mp
from multiprocessing.connection import wait
import time


def talker(conn, delay, word):
    time.sleep(delay)
    conn.send(word)
    conn.close()


if __name__ == "__main__":
    readers = []
    procs = []
    for i, word in enumerate(["first", "second", "third"]):
        r, w = mp.Pipe(duplex=False)
        p = mp.Process(target=talker, args=(w, 0.2 * (i + 1), word))
        p.start()
        w.close()
        readers.append(r)
        procs.append(p)
    print("nothing ready yet:", wait(readers, timeout=0.05))
    order = []
    pending = list(readers)
    while pending:
        for r in wait(pending):
            try:
                order.append(r.recv())
            except EOFError:
                pending.remove(r)
    print(order)
    sentinels = {p.sentinel: p for p in procs}
    finished = []
    while sentinels:
        for s in wait(list(sentinels), timeout=5):
            finished.append(sentinels.pop(s).exitcode)
    print("exit codes", finished)
    for p in procs:
        p.join()
    for r in readers:
        r.close()
