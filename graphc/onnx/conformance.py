"""ONNX's backend node test suite through graphc, counted per op family.

    python -m graphc.onnx.conformance [--only REGEX] [--device CPU] [--failures] [--families]

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


# the op families of issue 16's target, and the ops of each (an op not listed is "other")
FAMILIES = {
    "elementwise": "Abs Acos Acosh Add And Asin Asinh Atan Atanh BitShift BitwiseAnd BitwiseNot BitwiseOr "
                   "BitwiseXor Cast CastLike Ceil Celu Clip Cos Cosh Div Elu Equal Erf Exp Floor Gelu Greater "
                   "GreaterOrEqual HardSigmoid HardSwish IsInf IsNaN LeakyRelu Less LessOrEqual Log Max Mean "
                   "Min Mish Mod Mul Neg Not Or PRelu Pow Reciprocal Relu Round Selu Shrink Sigmoid Sign Sin "
                   "Sinh Softplus Softsign Sqrt Sub Sum Swish Tan Tanh ThresholdedRelu Where Xor",
    "reductions": "ArgMax ArgMin CumProd CumSum ReduceL1 ReduceL2 ReduceLogSum ReduceLogSumExp ReduceMax "
                  "ReduceMean ReduceMin ReduceProd ReduceSum ReduceSumSquare",
    "matmul/gemm": "Einsum Gemm MatMul MatMulInteger",
    "conv/pool": "AveragePool Col2Im Conv ConvTranspose DeformConv GlobalAveragePool GlobalMaxPool LpPool "
                 "MaxPool MaxUnpool",
    "shape ops": "Constant ConstantOfShape DepthToSpace Dropout Expand EyeLike Flatten Identity OneHot Range "
                 "Reshape Shape Size SpaceToDepth Split Squeeze Tile Transpose Trilu Unsqueeze",
    "softmax family": "Hardmax LogSoftmax NegativeLogLikelihoodLoss Softmax SoftmaxCrossEntropyLoss",
    "normalizations": "BatchNormalization GroupNormalization InstanceNormalization LayerNormalization LRN "
                      "LpNormalization MeanVarianceNormalization RMSNormalization",
    "gather/slice/concat/pad": "CenterCropPad Concat Gather GatherElements GatherND Pad Slice",
}
_FAMILY_OF = {op: family for family, ops in FAMILIES.items() for op in ops.split()}


def family_of(op_type):
    return _FAMILY_OF.get(op_type, "other")


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


def family_table(rows):
    """A markdown table per family of issue 16: passed, failed, excluded for a dtype graphc
    lacks, excluded otherwise, and the share passed of the cases in graphc's five dtypes."""
    counts = collections.defaultdict(collections.Counter)
    for _, op, outcome, detail in rows:
        kind = "dtype" if outcome == "excluded" and detail.startswith("dtype ") else outcome
        counts[family_of(op)][kind] += 1
    lines = ["| family | passed | failed | excluded (dtype) | excluded (other) | passed of the 5-dtype cases |",
             "|---|---:|---:|---:|---:|---:|"]
    for family in list(FAMILIES) + ["other"]:
        c = counts[family]
        counted = c["passed"] + c["failed"] + c["excluded"]
        share = f"{100 * c['passed'] / counted:.1f}%" if counted else "-"
        lines.append(f"| {family} | {c['passed']} | {c['failed']} | {c['dtype']} | {c['excluded']} | {share} |")
    return "\n".join(lines)


def table(counts):
    """A markdown table of the counts per op, with totals."""
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
    parser.add_argument("--families", action="store_true", help="count per op family, not per op")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    counts, rows = run_all(args.only, args.device)
    print(family_table(rows) if args.families else table(counts))
    print(f"\n{len(rows)} cases in {time.perf_counter() - start:.0f} s")
    if args.failures:
        for name, family, outcome, detail in rows:
            if outcome == "failed":
                print(f"{name} [{family}]: {detail}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
