"""Value and Array incremented by several processes under get_lock()."""
import multiprocessing as mp


def bump(counter, arr, n):
    for _ in range(n):
        with counter.get_lock():
            counter.value += 1
        with arr.get_lock():
            for i in range(len(arr)):
                arr[i] += 1


if __name__ == "__main__":
    counter = mp.Value("i", 0)
    arr = mp.Array("l", 4)
    ps = [mp.Process(target=bump, args=(counter, arr, 200)) for _ in range(4)]
    for p in ps:
        p.start()
    for p in ps:
        p.join()
    print("counter", counter.value)
    print("array", arr[:], list(arr))
    c = mp.Value("c", b"x")
    print("char", c.value)
    f = mp.Value("d", 1.5, lock=False)
    f.value *= 2
    print("double", f.value)
    s = mp.Array("c", b"hello")
    print("bytes", s.value, s.raw)
    print("len", len(arr), arr[1:3])
