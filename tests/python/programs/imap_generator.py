"""imap over a generator with next(timeout) and an ordered result,
map_async with a callback, apply with kwargs."""
import multiprocessing as mp


def gen(n):
    for i in range(n):
        yield i, i + 1


def add(pair):
    a, b = pair
    return a + b


def scale(x, factor=1):
    return x * factor


if __name__ == "__main__":
    with mp.Pool(2) as pool:
        it = pool.imap(add, gen(6))
        print([it.next(timeout=10) for _ in range(6)])
        try:
            it.next(timeout=1)
        except StopIteration:
            print("StopIteration")
        got = []
        r = pool.map_async(add, [(1, 1), (2, 2)], callback=got.append)
        r.wait(10)
        print("callback got", got)
        print(pool.apply(scale, (7,), {"factor": 6}))
        a = mp.Array("i", range(5))
        print(a[:], len(a))
