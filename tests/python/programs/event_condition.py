"""An Event starts the workers; a Condition guards a shared Value that the
parent waits on with wait_for."""
import multiprocessing as mp


def worker(start, cond, done):
    start.wait()
    with cond:
        done.value += 1
        cond.notify_all()


if __name__ == "__main__":
    start = mp.Event()
    cond = mp.Condition()
    done = mp.Value("i", 0, lock=False)
    ps = [mp.Process(target=worker, args=(start, cond, done)) for _ in range(4)]
    for p in ps:
        p.start()
    print("event set before start?", start.is_set())
    print("wait with timeout:", start.wait(0.05))
    start.set()
    with cond:
        ok = cond.wait_for(lambda: done.value == 4, timeout=10)
    print("all four reported:", ok, done.value)
    with cond:
        print("plain wait times out:", cond.wait(0.05))
    for p in ps:
        p.join()
    start.clear()
    print("cleared:", start.is_set())
