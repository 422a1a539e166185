"""A Barrier with an action; every party gets a distinct index."""
import multiprocessing as mp
import threading


def announce():
    print("barrier released", flush=True)


def party(barrier, q):
    idx = barrier.wait(timeout=10)
    q.put(idx)


if __name__ == "__main__":
    barrier = mp.Barrier(3, action=announce)
    q = mp.Queue()
    ps = [mp.Process(target=party, args=(barrier, q)) for _ in range(3)]
    for p in ps:
        p.start()
    for p in ps:
        p.join()
    print("indexes", sorted(q.get(timeout=5) for _ in ps))
    print("parties", barrier.parties, "waiting", barrier.n_waiting, "broken", barrier.broken)
    b2 = mp.Barrier(2)
    try:
        b2.wait(timeout=0.1)
    except threading.BrokenBarrierError:
        print("timed out: broken =", b2.broken)
    b2.reset()
    print("after reset: broken =", b2.broken)
