"""Pool.map, imap, imap_unordered, starmap and apply in one program."""
import multiprocessing


def square(x):
    return x * x


def power(base, exp):
    return base ** exp


if __name__ == "__main__":
    with multiprocessing.Pool(processes=3) as pool:
        print("map", pool.map(square, range(10)))
        print("map chunks", pool.map(square, range(25), chunksize=4)[-3:])
        print("imap", list(pool.imap(square, range(6))))
        print("imap_unordered", sorted(pool.imap_unordered(square, range(12), chunksize=2)))
        print("starmap", pool.starmap(power, [(2, 3), (3, 2), (10, 0)]))
        print("apply", pool.apply(power, (2,), {"exp": 10}))
        r = pool.map_async(square, [4, 5])
        print("map_async", r.get(timeout=10), r.ready(), r.successful())
        r = pool.starmap_async(power, [(5, 2)])
        print("starmap_async", r.get(timeout=10))
    print("done")
