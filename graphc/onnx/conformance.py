"""ONNX's backend node test suite through graphc, counted per op family.

    python -m graphc.onnx.conformance [--only REGEX] [--device CPU] [--failures]

Each case of ``onnx.backend.test.loader.load_model_tests(kind="node")`` (built in memory by
current onnx) is prepared with :class:`graphc.onnx.backend.GraphcBackend` and its outputs
compared as ``onnx.backend.test.BackendTest`` compares them; a case matched by
``exclusions.EXCLUDED`` is counted as excluded, with its reason. tests/test_onnx_backend.py
runs the same cases under pytest.
"""
import argparse
import collections
import re
import sys
import time

import numpy as np

from .exclusions import exclusion_reason


def node_cases():
    """ONNX's node test cases, each as ``(name, family, case)``: the family is the op the
    case tests (an ``_expanded`` case counts under the op it expands)."""
    from onnx.backend.test.loader import load_model_tests
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with np.errstate(all="ignore"):
            cases = load_model_tests(kind="node")
    ops = {}
    for case in cases:
        if case.model is not None and "_expanded" not in case.name:
            ops[case.name] = case.model.graph.node[0].op_type if len(case.model.graph.node) else "?"
    out = []
    for case in cases:
        base = re.sub(r"_expanded(_ver\d+)?$", "", case.name)
        family = ops.get(base) or ops.get(case.name) or "?"
        out.append((case.name, family, case))
    return out


def run_case(case, device="CPU"):
    """Run one node case; raises on a wrong result (AssertionError) or any failure."""
    from onnx.backend.test.runner import Runner
    from onnx.numpy_helper import to_array
    from .backend import GraphcBackend

    def array(item):
        return to_array(item) if hasattr(item, "data_type") else np.asarray(item)
    rep = GraphcBackend.prepare(case.model, device)
    for inputs, expected in case.data_sets:
        outputs = rep.run([array(v) for v in inputs])
        Runner.assert_similar_outputs([array(v) for v in expected], list(outputs),
                                      rtol=case.rtol, atol=case.atol, model_dir=None)


def run_all(only=None, device="CPU", progress=None):
    """``{family: Counter(passed, failed, excluded)}`` and ``[(name, family, outcome, detail)]``."""
    counts = collections.defaultdict(collections.Counter)
    rows = []
    for name, family, case in node_cases():
        if only and not re.search(only, name):
            continue
        reason = exclusion_reason(name, case.model)
        if reason is not None:
            outcome, detail = "excluded", reason
        else:
            try:
                with np.errstate(all="ignore"):
                    run_case(case, device)
                outcome, detail = "passed", ""
            except Exception as e:   # a failed case is counted and reported, not fatal
                outcome, detail = "failed", f"{type(e).__name__}: {str(e).strip().splitlines()[0][:300] if str(e).strip() else ''}"
        counts[family][outcome] += 1
        rows.append((name, family, outcome, detail))
        if progress:
            progress(name, outcome)
    return counts, rows


def table(counts):
    """A markdown table of the counts per family, with totals."""
    lines = ["| op family | passed | failed | excluded |", "|---|---:|---:|---:|"]
    total = collections.Counter()
    for family in sorted(counts):
        c = counts[family]
        total.update(c)
        lines.append(f"| {family} | {c['passed']} | {c['failed']} | {c['excluded']} |")
    lines.append(f"| **all** | {total['passed']} | {total['failed']} | {total['excluded']} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="run the cases whose name matches this regex")
    parser.add_argument("--device", default="CPU")
    parser.add_argument("--failures", action="store_true", help="list each failed case")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    counts, rows = run_all(args.only, args.device)
    print(table(counts))
    print(f"\n{len(rows)} cases in {time.perf_counter() - start:.0f} s")
    if args.failures:
        for name, family, outcome, detail in rows:
            if outcome == "failed":
                print(f"{name} [{family}]: {detail}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
