"""Every failure the fuzzer ever found, shrunk and kept as IR text (tests/regressions/),
replayed on every device and pipeline against its stored float64 value and bound."""
import glob
import os

import pytest

from graphc.testing.fuzz.shrink import replay

FILES = sorted(glob.glob(os.path.join(os.path.dirname(__file__), "regressions", "*.ir")))


@pytest.mark.parametrize("path", FILES, ids=[os.path.basename(p) for p in FILES])
def test_regression_replays_clean(path):
    failures = replay(path)
    assert not failures, "\n".join(map(str, failures))


def test_regressions_folder_is_not_empty():
    """The folder holds the fuzzer's findings (at least the 1-D softmax class of issue 9)."""
    assert FILES
