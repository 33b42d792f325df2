"""The DAG IR: :class:`Node`, :class:`Graph`, and the text form (``to_text``/``parse``)."""
from .graph import Graph, get_default_graph, reset_default_graph
from .node import Node, type_str
from .text import parse, to_text

__all__ = ["Graph", "Node", "parse", "to_text", "type_str", "get_default_graph", "reset_default_graph"]
