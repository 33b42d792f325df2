"""Graphviz DOT of a graph: one box per op, edges labeled with shapes, each fused kernel a
cluster around the ops of its body (``graphc dump --format dot``)."""
from ..ir.node import type_str


def to_dot(graph, title="graphc"):
    """DOT text of ``graph`` (any stage's IR)."""
    lines = [f"digraph {_quote(title)} {{", "  rankdir=TB;",
             '  node [shape=box, style="rounded,filled", fillcolor="#f4f4f4", fontname="Helvetica", fontsize=10];',
             '  edge [fontname="Helvetica", fontsize=9, color="#555555"];']
    out_of = {}   # a node -> the DOT id that stands for its value
    for node in graph.nodes:
        if node.op == "fused":
            out_of[node] = _cluster(node, lines, out_of)
        else:
            out_of[node] = _id(node.name)
            lines.append(f"  {out_of[node]} [label={_quote(_label(node))}{_style(node)}];")
            for x in dict.fromkeys(node.inputs):
                lines.append(f"  {out_of[x]} -> {out_of[node]} [label={_quote(_shape(x))}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _cluster(kernel, lines, out_of):
    """Draw a fused kernel's body inside a cluster; returns the id of the node its value is."""
    body = kernel.attrs["body"]
    inputs = dict(zip([n for n in body.nodes if n.op == "placeholder"], kernel.inputs))
    inner = {}
    lines.append(f"  subgraph {_id('cluster_' + kernel.name)} {{")
    lines.append(f"    label={_quote('kernel ' + kernel.name + ' (' + kernel.attrs['kind'] + ')')}; "
                 'style="rounded,dashed"; color="#1f6feb"; fontcolor="#1f6feb"; fontname="Helvetica";')
    for node in body.nodes:
        if node.op == "placeholder":
            continue
        inner[node] = _id(kernel.name + "/" + node.name)
        lines.append(f"    {inner[node]} [label={_quote(_label(node))}{_style(node)}];")
    lines.append("  }")
    for node in inner:
        for x in dict.fromkeys(node.inputs):
            source = out_of[inputs[x]] if x in inputs else inner[x]
            lines.append(f"  {source} -> {inner[node]} [label={_quote(_shape(x))}];")
    return inner[body.outputs[0]]


def _label(node):
    text = f"{node.name}\n{node.op} {type_str(node.dtype, node.shape) if node.dtype is not None else ''}".rstrip()
    return text + (f"\n{node.loc}" if node.loc else "")


def _style(node):
    if node.op in ("placeholder", "variable", "constant"):
        return ', fillcolor="#fff4d6"'
    return ""


def _shape(node):
    return "" if node.shape is None else "[" + ",".join("?" if d is None else str(d) for d in node.shape) + "]"


def _id(name):
    return _quote(name)


def _quote(text):
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
