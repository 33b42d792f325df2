"""The IR text form: one SSA line per node, types inline, source location last.

    %x: f32[?,4] = placeholder()  # examples/mlp.py:12
    %w: f32[4,3] = variable() {initial_value='w/initial_value', trainable=True}
    %y: f32[?,3] = matmul(%x, %w)  # examples/mlp.py:14
    outputs(%y)
    blob 0: f32[4,3] = "<base64 of the little-endian bytes>"

Constants with more than ``INLINE_LIMIT`` elements are stored in ``blob`` lines at
the end so the program stays readable. A fused kernel's body (a graph whose
placeholders are the kernel's inputs) is printed indented under the kernel:

    %y: f32[8,4] = fused(%x, %b) {kind='elementwise'}  # model.py:7
        %x: f32[8,4] = placeholder()
        %b: f32[4] = placeholder()
        %add: f32[8,4] = add(%x, %b)  # model.py:6
        %y: f32[8,4] = relu(%add)  # model.py:7
        outputs(%y)

``parse(to_text(g))`` rebuilds ``g`` exactly. Lines starting with ``//`` are comments.
"""
import ast
import base64
import math
import re
from contextlib import contextmanager

import numpy as np

from .. import dtypes as dt
from ..errors import IRParseError
from .graph import Graph
from .node import type_str

INLINE_LIMIT = 16
BODY_INDENT = "    "  # a fused kernel's body is printed indented under it
SOURCE_TYPE_ATTRS = ("dtype", "shape")  # sources carry their type in the line's type
_SOURCE_OPS = ("placeholder", "variable")


# -- printing ----------------------------------------------------------------
def _fmt_scalar(v):
    if isinstance(v, (bool, np.bool_)):
        return "True" if v else "False"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        text = str(v) if isinstance(v, np.floating) else repr(v)
        return text if "." in text or "e" in text or "n" in text else text + ".0"
    raise TypeError(v)


class _Raw(str):
    """Attribute text already formatted."""


def _fmt_value(v, blobs):
    if isinstance(v, _Raw):
        return v
    if isinstance(v, np.ndarray):
        if v.size > INLINE_LIMIT:
            blobs.append(v)
            return f"blob({len(blobs) - 1})"
        items = ", ".join(_fmt_scalar(x) for x in v.reshape(-1))
        return f"array([{items}], dtype={dt.short_name(v.dtype)}, shape={_fmt_value(v.shape, blobs)})"
    if isinstance(v, np.dtype):
        return dt.short_name(v)
    if isinstance(v, (tuple, list)):
        inner = ", ".join(_fmt_value(x, blobs) for x in v)
        return f"({inner},)" if len(v) == 1 else f"({inner})"
    if v is None:
        return "None"
    if isinstance(v, str):
        return repr(v)
    return _fmt_scalar(v)


def _fmt_constant(value, blobs):
    """A constant's value without dtype/shape (the line's type gives them): 2.0, [1.0, 2.0], blob(0)."""
    if value.size > INLINE_LIMIT:
        return _fmt_value(value, blobs)
    if value.ndim == 0:
        return _fmt_scalar(value[()])
    return "[" + ", ".join(_fmt_scalar(x) for x in value.reshape(-1)) + "]"


def node_line(node, blobs):
    attrs = {k: v for k, v in node.attrs.items()
             if not (node.op in _SOURCE_OPS and k in SOURCE_TYPE_ATTRS) and not (node.op == "fused" and k == "body")}
    if node.op == "constant":
        attrs["value"] = _Raw(_fmt_constant(node.attrs["value"], blobs))
    text = f"%{node.name}: {node.type} = {node.op}({', '.join('%' + x.name for x in node.inputs)})"
    if attrs:
        text += " {" + ", ".join(f"{k}={_fmt_value(v, blobs)}" for k, v in sorted(attrs.items())) + "}"
    if node.loc:
        text += f"  # {node.loc}"
    return text


def _graph_lines(graph, stored, indent=""):
    lines = []
    for node in graph.nodes:
        lines.append(indent + node_line(node, stored))
        if node.op == "fused":
            lines.extend(_graph_lines(node.attrs["body"], stored, indent + BODY_INDENT))
    if graph.outputs is not None:
        lines.append(f"{indent}outputs({', '.join('%' + n.name for n in graph.outputs)})")
    return lines


def to_text(graph, blobs=True):
    """The graph's IR text; ``blobs=False`` elides the large constants' data ("...")."""
    return text_and_blobs(graph, inline=blobs)[0]


def text_and_blobs(graph, inline=False):
    """(the IR text, [the large constants' arrays, by blob index]): the data inline in the
    text's blob lines, or elided there for ``parse(text, blobs=...)`` to take back."""
    stored = []
    lines = _graph_lines(graph, stored)
    for i, arr in enumerate(stored):
        payload = "..."
        if inline:
            payload = base64.b64encode(np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<")).tobytes()).decode()
        lines.append(f'blob {i}: {type_str(arr.dtype, arr.shape)} = "{payload}"')
    return "\n".join(lines) + "\n", stored


# -- parsing -----------------------------------------------------------------
_NAME = r"[A-Za-z0-9_.][A-Za-z0-9_./-]*"
_TYPE = r"none|\w+\[[^\]]*\]"
_NODE_RE = re.compile(rf"%(?P<name>{_NAME}):\s*(?P<type>{_TYPE})\s*=\s*(?P<op>\w+)\((?P<args>[^)]*)\)(?P<rest>.*)\Z")
_BLOB_RE = re.compile(rf'blob (?P<idx>\d+):\s*(?P<type>{_TYPE})\s*=\s*"(?P<data>[^"]*)"\Z')
_OUTPUTS_RE = re.compile(r"outputs\((?P<args>[^)]*)\)\Z")
_CONSTANTS = {"nan": math.nan, "inf": math.inf, "True": True, "False": False, "None": None,
              **{name: d for d, name in dt.SHORT_NAMES.items()}}


def parse_type(text):
    if text == "none":
        return None, None
    m = re.fullmatch(r"(\w+)\[([^\]]*)\]", text)
    if not m or m.group(1) not in dt.BY_SHORT_NAME:
        raise IRParseError(f"bad type {text!r}")
    dims = [d.strip() for d in m.group(2).split(",")] if m.group(2).strip() else []
    return dt.BY_SHORT_NAME[m.group(1)], tuple(None if d == "?" else int(d) for d in dims)


def _split_attrs_and_loc(rest):
    """`` {a=1, b='x'}  # file:12`` -> ("a=1, b='x'", "file:12")."""
    rest = rest.strip()
    attrs = ""
    if rest.startswith("{"):
        depth, quote = 0, None
        for i, ch in enumerate(rest):
            if quote:
                quote = None if ch == quote else quote
            elif ch in "'\"":
                quote = ch
            elif ch in "{([":
                depth += 1
            elif ch in "})]":
                depth -= 1
                if depth == 0:
                    attrs, rest = rest[1:i], rest[i + 1:].strip()
                    break
        else:
            raise IRParseError("unbalanced attribute braces")
    if rest and not rest.startswith("# "):
        raise IRParseError(f"unexpected text {rest!r}")
    return attrs, rest[2:] if rest else None


def _eval(node, blobs):
    """Evaluate one attribute value: literals, tuples, nan/inf, dtypes, array(), blob()."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, (ast.Tuple, ast.List)):
        return tuple(_eval(x, blobs) for x in node.elts)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_eval(node.operand, blobs)
    if isinstance(node, ast.Name) and node.id in _CONSTANTS:
        return _CONSTANTS[node.id]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        args = [_eval(a, blobs) for a in node.args]
        kwargs = {k.arg: _eval(k.value, blobs) for k in node.keywords}
        if node.func.id == "blob":
            return ("blob", args[0])
        if node.func.id == "array":
            return np.array(args[0], dtype=kwargs["dtype"]).reshape(kwargs["shape"])
    raise IRParseError(f"unsupported attribute value {ast.unparse(node)!r}")


def _parse_attrs(text):
    if not text:
        return {}
    try:
        call = ast.parse(f"f({text})", mode="eval").body
    except SyntaxError as e:
        raise IRParseError(f"bad attributes {{{text}}}: {e.msg}") from None
    return {k.arg: _eval(k.value, None) for k in call.keywords}


def _resolve_blobs(value, blobs):
    if isinstance(value, tuple) and len(value) == 2 and value[0] == "blob":
        if value[1] not in blobs:
            raise IRParseError(f"blob {value[1]} is missing")
        return blobs[value[1]]
    return value


def _given_blob(m, given):
    idx = int(m.group("idx"))
    if idx not in given:
        raise IRParseError(f"blob {idx} was elided (printed with blobs=False)")
    dtype, shape = parse_type(m.group("type"))
    arr = np.asarray(given[idx])
    if arr.dtype != dtype or arr.shape != tuple(shape):
        raise IRParseError(f"blob {idx} is {type_str(arr.dtype, arr.shape)}, the text says {m.group('type')}")
    return arr


def _read_blob(m):
    dtype, shape = parse_type(m.group("type"))
    raw = base64.b64decode(m.group("data"))
    return np.frombuffer(raw, dtype=dtype.newbyteorder("<")).astype(dtype).reshape(shape)


def parse(text, blobs=None):
    """Read IR text (from ``Graph.to_text`` or written by hand) into a new Graph.
    ``blobs`` ({index: array}) gives the blobs printed elided (``blobs=False``: a graph
    file keeps them beside the text)."""
    lines = [(i + 1, len(ln) - len(ln.lstrip()), ln.strip()) for i, ln in enumerate(text.splitlines())]
    lines = [ln for ln in lines if ln[2] and not ln[2].startswith("//")]
    given, blobs = dict(blobs or {}), {}
    for lineno, _, line in lines:
        if m := _BLOB_RE.match(line):
            with _errors_at(lineno, line):
                blobs[int(m.group("idx"))] = _given_blob(m, given) if m.group("data") == "..." else _read_blob(m)
    graph, pos = _parse_block(lines, 0, 0, blobs)
    if pos < len(lines):
        lineno, _, line = lines[pos]
        raise IRParseError(f"line {lineno}: unexpected indentation\n    {line}")
    return graph


def _parse_block(lines, pos, indent, blobs):
    """Parse the lines at ``indent`` from ``pos`` into a Graph; a fused node's body is
    the more-indented block under it. Returns the graph and the next position."""
    graph = Graph()
    while pos < len(lines) and lines[pos][1] >= indent:
        lineno, ind, line = lines[pos]
        pos += 1
        with _errors_at(lineno, line):
            if ind > indent:
                raise IRParseError("unexpected indentation")
            if _BLOB_RE.match(line):
                continue
            if m := _OUTPUTS_RE.match(line):
                graph.outputs = tuple(_refs(graph, m.group("args")))
                continue
            m = _NODE_RE.match(line)
            if not m:
                raise IRParseError("expected '%name: type = op(args) {attrs}  # loc'")
            attr_text, loc = _split_attrs_and_loc(m.group("rest"))
            attrs = {k: _resolve_blobs(v, blobs) for k, v in _parse_attrs(attr_text).items()}
            dtype, shape = parse_type(m.group("type"))
            if m.group("op") in _SOURCE_OPS:
                attrs.update(dtype=dtype, shape=shape)
            if m.group("op") == "constant" and dtype is not None:
                attrs["value"] = np.array(attrs.get("value"), dtype=dtype).reshape(shape)
            if m.group("op") == "fused":
                if pos >= len(lines) or lines[pos][1] <= indent:
                    raise IRParseError("a fused node needs its body indented below it")
                attrs["body"], pos = _parse_block(lines, pos, lines[pos][1], blobs)
            node = graph.add_node(m.group("op"), _refs(graph, m.group("args")), attrs,
                                  name=m.group("name"), loc=loc, exact_name=True)
            if (node.dtype, node.shape) != (dtype, shape):
                raise IRParseError(f"declared type {m.group('type')} but {node.op} infers {node.type}")
    return graph, pos


@contextmanager
def _errors_at(lineno, line):
    """Any error raised while reading ``line`` becomes an IRParseError that names it."""
    try:
        yield
    except IRParseError as e:
        raise IRParseError(f"line {lineno}: {e}\n    {line}") from None
    except Exception as e:  # an op's own check failed: still point at the line
        raise IRParseError(f"line {lineno}: {e}\n    {line}") from e


def _refs(graph, args):
    names = [a.strip() for a in args.split(",") if a.strip()]
    for a in names:
        if not a.startswith("%"):
            raise IRParseError(f"expected a %name, got {a!r}")
    return [graph.node(a[1:]) for a in names]
