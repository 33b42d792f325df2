"""The fuzzer's hypothesis front end: the same generator, its choices drawn by hypothesis,
so a failing graph shrinks (toward fewer ops, the first regime and option, smaller
numbers). Feed values come from a drawn seed."""
from hypothesis import strategies as st

from .generator import generate


class HypothesisChooser:
    """The chooser interface of generator.RandomChooser over hypothesis draws."""

    def __init__(self, draw):
        self.draw = draw

    def integer(self, lo, hi):
        return self.draw(st.integers(lo, hi))

    def pick(self, options):
        return options[self.integer(0, len(options) - 1)]

    def chance(self, p):
        return self.integer(0, 99) >= 100 - round(100 * p)   # shrinks toward False


@st.composite
def programs(draw, max_ops=8, float_dtypes=None):
    """A strategy of random programs (graphc.testing.fuzz.program.Program)."""
    return generate(HypothesisChooser(draw), max_ops=max_ops, float_dtypes=float_dtypes)
