"""Runs a compiled graph. Stub until the memory planner lands: interprets it."""
from .reference import run_graph


class Executor:
    def __init__(self, graph, plan, poison=False):
        self.graph, self.plan, self.poison = graph, plan, poison

    def run(self, feeds, variables):
        return run_graph(self.graph, feeds, variables)
