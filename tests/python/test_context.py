"""Contexts, start methods, cpu_count and the top-level names."""
import os

import pytest

import mproc


def test_default_start_method_is_fork_and_both_contexts_exist():
    assert mproc.get_all_start_methods() == ["fork", "spawn"]
    assert mproc.get_context().get_start_method() == mproc.get_start_method()
    assert mproc.get_context("fork").get_start_method() == "fork"
    assert mproc.get_context("spawn").get_start_method() == "spawn"
    with pytest.raises(ValueError):
        mproc.get_context("forkserver")


def test_set_start_method_once_unless_forced():
    ctx = mproc.context._default_context
    saved = ctx._actual
    try:
        ctx._actual = None
        mproc.set_start_method("spawn")
        assert mproc.get_start_method() == "spawn"
        with pytest.raises(RuntimeError):
            mproc.set_start_method("fork")
        mproc.set_start_method("fork", force=True)
        assert mproc.get_start_method() == "fork"
    finally:
        ctx._actual = saved


def test_cpu_count_respects_the_affinity_mask():
    n = mproc.cpu_count()
    assert 1 <= n <= len(os.sched_getaffinity(0))


def test_every_multiprocessing_name_is_exported():
    import multiprocessing
    missing = [n for n in multiprocessing.__all__ if not hasattr(mproc, n)]
    assert missing == []


def test_manager_proxies_work_in_forked_children():
    # multiprocessing's Manager; its proxies must reconnect in mproc's forked
    # child (not share the parent's connection to the server)
    with mproc.Manager() as m:
        d = m.dict()
        ps = [mproc.Process(target=d.__setitem__, args=(k, k * k)) for k in range(4)]
        for p in ps:
            p.start()
        d["parent"] = 1  # the parent uses its connection meanwhile
        for p in ps:
            p.join(10)
            assert p.exitcode == 0
        assert dict(d) == {0: 0, 1: 1, 2: 4, 3: 9, "parent": 1}


def test_context_objects_are_made_by_their_modules():
    ctx = mproc.get_context("spawn")
    q = ctx.Queue()
    a, b = ctx.Pipe()
    try:
        assert type(q).__module__ == "mproc.queues"
        assert type(a).__module__ == "mproc.connection"
        assert issubclass(ctx.Process, mproc.Process)
    finally:
        q.close()
        a.close()
        b.close()


def test_freeze_support_does_nothing():
    assert mproc.freeze_support() is None
