"""A Manager dict and list filled by workers: the usual way to collect
results in a shared container."""
import multiprocessing as mp


def record(shared, log, key):
    shared[key] = key * key
    log.append(key)


if __name__ == "__main__":
    with mp.Manager() as manager:
        shared = manager.dict()
        log = manager.list()
        ps = [mp.Process(target=record, args=(shared, log, k)) for k in range(5)]
        for p in ps:
            p.start()
        for p in ps:
            p.join()
        print(sorted(shared.items()))
        print(sorted(log))
