"""A Process subclass with its own __init__ and run()."""
import multiprocessing


class Counter(multiprocessing.Process):
    def __init__(self, n, out):
        super().__init__()
        self.n = n
        self.out = out

    def run(self):
        total = sum(range(self.n))
        self.out.put((self.name.startswith("Counter-") or self.name.startswith("Process-"), total))


if __name__ == "__main__":
    q = multiprocessing.Queue()
    ps = [Counter(n, q) for n in (10, 100, 1000)]
    for p in ps:
        p.start()
    results = sorted(q.get(timeout=10)[1] for _ in ps)
    for p in ps:
        p.join()
    print(results)
    print([p.exitcode for p in ps])
    print([p.is_alive() for p in ps])
