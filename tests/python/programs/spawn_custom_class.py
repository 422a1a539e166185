"""spawn: an instance of a class defined in the main script, a Lock, an
Event and a Value go to the child as arguments."""
import multiprocessing as mp


class Job:
    def __init__(self, name, weight):
        self.name = name
        self.weight = weight

    def cost(self):
        return self.name.upper() * self.weight


def run(job, lock, ev, total, out):
    with lock:
        total.value += job.weight
    ev.set()
    out.put(job.cost())


if __name__ == "__main__":
    ctx = mp.get_context("spawn")
    lock, ev, out = ctx.Lock(), ctx.Event(), ctx.Queue()
    total = ctx.Value("i", 0)
    ps = [ctx.Process(target=run, args=(Job(n, w), lock, ev, total, out))
          for n, w in [("a", 1), ("b", 2)]]
    for p in ps:
        p.start()
    print(sorted(out.get(timeout=30) for _ in ps))
    for p in ps:
        p.join()
    print("event", ev.is_set(), "total", total.value, [p.exitcode for p in ps])
