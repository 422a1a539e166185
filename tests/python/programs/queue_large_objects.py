"""Large and varied objects through a Queue: bytes of a few MiB, nested
containers, a custom class defined in __main__."""
import multiprocessing as mp


class Point:
    def __init__(self, x, y):
        self.x, self.y = x, y

    def __repr__(self):
        return f"Point({self.x}, {self.y})"


def sender(q):
    q.put(b"\x07" * (3 << 20))
    q.put({"list": list(range(5)), "set": {1, 2}, "tuple": (None, True, 1.5)})
    q.put(Point(3, 4))
    q.put([Point(i, -i) for i in range(3)])


if __name__ == "__main__":
    q = mp.Queue()
    p = mp.Process(target=sender, args=(q,))
    p.start()
    big = q.get(timeout=20)
    print(len(big), big[:3], big[-1])
    d = q.get(timeout=10)
    print(sorted(d.items(), key=lambda kv: kv[0]))
    print(q.get(timeout=10), q.get(timeout=10))
    p.join()
    print(p.exitcode)
