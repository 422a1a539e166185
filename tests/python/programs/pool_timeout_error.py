"""AsyncResult.get(timeout) raises multiprocessing.TimeoutError while the
task still runs."""
import multiprocessing as mp
import time


def slow(x):
    time.sleep(0.6)
    return x


if __name__ == "__main__":
    with mp.Pool(1) as pool:
        r = pool.apply_async(slow, ("late",))
        try:
            r.get(timeout=0.05)
        except mp.TimeoutError:
            print("TimeoutError; ready:", r.ready())
        print(r.get(timeout=10), r.ready())
        try:
            r2 = pool.map_async(slow, [1])
            r2.successful()
        except ValueError:
            print("successful() before ready: ValueError")
        r2.wait()
        print(r2.get())
