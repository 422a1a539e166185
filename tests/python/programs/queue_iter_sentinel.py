"""for item in iter(q.get, None): the consumer idiom; results on a second
Queue; the nested child of a child has a ':' in its name."""
import multiprocessing as mp


def grandchild(out):
    out.put(("grandchild", mp.current_process().name))


def consumer(q, out):
    for word in iter(q.get, None):
        out.put(word[::-1])
    g = mp.Process(target=grandchild, args=(out,))
    g.start()
    g.join()
    out.put(("consumer", mp.current_process().name))


if __name__ == "__main__":
    q, out = mp.Queue(), mp.Queue()
    c = mp.Process(target=consumer, args=(q, out))
    c.start()
    for w in ["alpha", "beta", "gamma"]:
        q.put(w)
    q.put(None)
    c.join()
    got = []
    while not out.empty():
        got.append(out.get())
    print(got)
    print(mp.active_children())
