"""Pool workers' names and _identity (used to give each worker its own
random seed or GPU index), the pool in a with block and after close."""
import multiprocessing as mp


def who(_):
    me = mp.current_process()
    return me.name.split("-")[0], len(me._identity), me._identity[0] >= 1, me.daemon


if __name__ == "__main__":
    with mp.Pool(2) as pool:
        print(sorted(set(pool.map(who, range(8)))))
        print("empty map", pool.map(who, []))
        pool.close()
        try:
            pool.map(who, [1])
        except ValueError as e:
            print("ValueError:", e)
        pool.join()
    try:
        mp.Pool(0)
    except ValueError as e:
        print("ValueError:", e)
    p = mp.Process(target=who, args=(0,))
    p.start()
    try:
        p.start()
    except AssertionError as e:
        print("AssertionError:", e)
    p.join()
    ctx = mp.get_context("spawn")
    with ctx.Pool(1) as pool:
        print(pool.apply(who, (0,)))
