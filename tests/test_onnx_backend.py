"""ONNX's own backend node test suite (``onnx.backend.test.BackendTest``, its cases built in
memory by the installed onnx) run through graphc's ONNX backend on the CPU (and CUDA where
present). Cases that graphc.onnx.exclusions excludes are skipped with their reason; every
other case must pass. docs/onnx.md has the counts per op family."""
import unittest

import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnx.backend.test")

import onnx.backend.test  # noqa: E402

from graphc.onnx.backend import GraphcBackend  # noqa: E402
from graphc.onnx.conformance import node_cases  # noqa: E402
from graphc.onnx.exclusions import exclusion_reason  # noqa: E402

_backend_test = onnx.backend.test.BackendTest(GraphcBackend, __name__)
# the node cases only: the other kinds are whole models that onnx downloads
OnnxBackendNodeModelTest = _backend_test.test_cases["OnnxBackendNodeModelTest"]
_reasons = {name: exclusion_reason(name, case.model) for name, _, case in node_cases()}
_excluded = [name for name, reason in _reasons.items() if reason]
for _name in _excluded:
    for _device in ("cpu", "cuda"):
        _test = getattr(OnnxBackendNodeModelTest, f"{_name}_{_device}", None)
        if _test is not None:
            setattr(OnnxBackendNodeModelTest, f"{_name}_{_device}",
                    unittest.skip(f"excluded: {_reasons[_name]}")(_test))


def test_every_supported_node_case_is_collected():
    """The suite is not empty and its exclusions leave most cases to run."""
    names = [n for n in dir(OnnxBackendNodeModelTest) if n.startswith("test_") and n.endswith("_cpu")]
    assert len(names) > 1000
    assert 800 < len(names) - len(_excluded) < len(names)


def test_exclusions_name_their_reason():
    assert all(isinstance(_reasons[n], str) and len(_reasons[n]) > 5 for n in _excluded)
