"""How a rendered kernel is started (runtime/cuda/render.py makes them, the devices read them)."""
from dataclasses import dataclass


@dataclass(frozen=True)
class Launch:
    """How to start a rendered kernel: ``kind`` "elementwise" over ``size`` outputs
    (``lanes`` of them per thread and step where the buffers are aligned), "rows" over
    ``size`` rows (a block each), "warp_rows" (a warp each), "columns" (a block per 32
    rows, the rows' reductions read along an outer axis) or "split" (a few long rows: the
    ``first`` stage's blocks each reduce a part of a row into ``scratch``, then this
    launch combines the parts and writes ``size`` outputs over the whole grid); ``symbol``
    None when the kernel is its GEMM alone."""
    symbol: str | None
    kind: str
    size: int
    lanes: int = 1
    checks: bool = False   # takes one more parameter, an int set to 1 by an index out of range
    zeroes: bool = False   # the output is zeroed before the launch (an accumulating kernel)
    first: "Launch | None" = None   # "split": the first stage, launched before this one
    scratch: tuple = ()    # "split": (dtype, count) of each buffer the two stages pass partials in
    row_cache: int = 0     # "rows", "warp_rows": shared memory per block keeping row values (row_cache.py)

    def threads(self, block):
        """How many threads the kernel can keep busy, at ``block`` threads per block."""
        if self.kind == "elementwise":
            return -(-self.size // self.lanes)
        if self.kind == "columns":
            return -(-self.size // 32) * block
        if self.kind == "split":
            return max(self.size, 1)
        return self.size * (block if self.kind == "rows" else 32)
