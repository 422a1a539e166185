"""mproc.dummy is multiprocessing.dummy (threads behind the same API)."""
import multiprocessing.dummy

import mproc.dummy


def test_mproc_dummy_hands_out_multiprocessing_dummys_names():
    # `from multiprocessing.dummy import Pool` rewritten for mproc was a
    # ModuleNotFoundError: the module was missing.
    assert mproc.dummy.__all__ == multiprocessing.dummy.__all__
    for name in mproc.dummy.__all__:
        assert getattr(mproc.dummy, name) is getattr(multiprocessing.dummy, name)
    assert mproc.dummy.connection is multiprocessing.dummy.connection
    with mproc.dummy.Pool(2) as pool:
        assert pool.map(str.upper, ["a", "b"]) == ["A", "B"]
