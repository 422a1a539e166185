"""The module imports from the build tree and reports errors as exceptions."""
import mproc


def test_imports_and_has_a_version():
    assert isinstance(mproc.__version__, str) and mproc.__version__


def test_errors_are_oserrors():
    assert issubclass(mproc.MprocError, OSError)
    assert issubclass(mproc.OwnerDeadError, mproc.MprocError)
