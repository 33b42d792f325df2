"""What a run computes and which variables it updates.

A fetch list may hold plain tensors, ``assign`` updates, ``group`` operations and
initializers; any node the run needs may carry control inputs (built under
``gc.control_dependencies``), which run too. :func:`plan_run` turns that into one
list of nodes to compute (the compiled program's outputs) and the updates to commit
from them: each ``assign`` contributes its value node, committed to its variable
after the whole run succeeded.
"""
from dataclasses import dataclass

from ..errors import GraphcError


@dataclass(frozen=True)
class RunPlan:
    outputs: tuple          # nodes to compute: fetched values, update values, initializers
    updates: tuple          # (variable name, position in outputs)
    fetched: tuple          # per fetch: its position in outputs, or None (it has no value)


def plan_run(graph, fetch_nodes):
    outputs, position, updates, done = [], {}, {}, set()

    def want(node):
        if node not in position:
            position[node] = len(outputs)
            outputs.append(node)
        return position[node]

    def run_effect(node):
        if node in done:
            return
        done.add(node)
        if node.op == "group":
            for x in node.inputs:
                run_effect(x)
        elif node.op == "assign":
            var = node.inputs[0]
            if var.name in updates and updates[var.name][0] is not node:
                other = updates[var.name][0]
                raise GraphcError(f"variable '{var.name}' is updated twice in one run: by '{other.name}' "
                                  f"(built at {other.loc}) and '{node.name}' (built at {node.loc})")
            updates[var.name] = (node, want(node))
        elif node.dtype is not None or node.op == "init_variables":
            want(node)

    fetched = []
    for node in fetch_nodes:
        run_effect(node)
        fetched.append(position.get(node) if node.dtype is not None else None)
    # anything the run computes may pull in updates (assigns used as values) and control inputs
    seen = set()
    frontier = list(done)
    while frontier:
        node = frontier.pop()
        if node in seen:
            continue
        seen.add(node)
        if node.op == "assign":
            run_effect(node)
        for dep in graph.control_inputs.get(node, ()):
            run_effect(dep)
            frontier.append(dep)
        frontier.extend(node.inputs)
    return RunPlan(tuple(outputs), tuple((name, pos) for name, (_, pos) in updates.items()), tuple(fetched))
