"""The native side of graphc's thread pool (``work_pool``), as LLVM IR.

A *call* is four int64s: a kernel function's address, its parameter table's address and the
[lo, hi) range of its outer loop to run. ``graphc_pool_run`` runs a list of calls on the pool,
the calling thread included: it publishes the list, and every thread claims calls one at a
time until none is left, so a thread the OS (or the hypervisor) has taken away holds up no
more than the call it had claimed. ``graphc_run_plan`` runs a program's stages in order,
each one call inline or a list on the pool: one native call runs a whole program.

The pool's state is one int64 array owned by Python, one field per 64-byte line:
the *ticket* packs the generation of the published list (32 bits), its length (16) and the
next call to claim (16), so a claim is one compare-and-swap that fails once the list is
exhausted or replaced; *finished* counts the calls done; workers spin ``SPIN_CYCLES`` (time
stamp counter ticks) after their last work, then sleep on a futex that a publisher wakes.
A caller that finds the pool busy (another program's run on another thread) runs its calls
itself, in order.
"""
from llvmlite import ir

from .llvm_util import I32, I64, PTR, Fn, c64, declare

LINE = 8   # int64 fields per cache line
TICKET, FINISHED, CALLS, QUIT, SLEEPERS, FUTEX, SPIN_CYCLES, BUSY, GENERATION = (LINE * i for i in range(9))
STATE_SIZE = LINE * 9
CALL_WORDS = 4            # fn, table, lo, hi
MAX_CALLS = (1 << 16) - 1
SYS_FUTEX, FUTEX_WAIT_PRIVATE, FUTEX_WAKE_PRIVATE = 202, 128, 129   # x86-64 Linux
KERNEL = ir.FunctionType(ir.VoidType(), [PTR, I64, I64])
EXTERNALS = ("syscall", "sched_yield")   # libc functions the module calls (registered by work_pool)
SEQ, ACQ, REL = "seq_cst", "acquire", "release"


class _Pool:
    def __init__(self, module, x86, linux):
        self.module, self.linux = module, linux
        self.syscall = ir.Function(module, ir.FunctionType(I64, [I64], var_arg=True), name="syscall")
        self.sched_yield = declare(module, "sched_yield", I32, [])
        self.pause = declare(module, "llvm.x86.sse2.pause", ir.VoidType(), []) if x86 else None
        self.clock = declare(module, "llvm.readcyclecounter", I64, [])
        self.claim = self._claim()
        self._worker()
        self._run()
        self._plan()
        self._stop()

    # -- small pieces -------------------------------------------------------
    @staticmethod
    def field(b, state, index):
        return b.gep(state, [c64(index)], source_etype=I64)

    def store(self, b, value, state, index, ordering=REL):
        """An atomic store (as an exchange: llvmlite's store_atomic wants a typed pointer)."""
        b.atomic_rmw("xchg", self.field(b, state, index), value, ordering)

    def load(self, b, state, index, ordering=ACQ):
        return b.load_atomic(self.field(b, state, index), ordering, 8, typ=I64)

    def relax(self, b):
        if self.pause is not None:
            b.call(self.pause, [])

    def futex(self, b, state, op, value):
        """The futex call ``op`` on the FUTEX field (elsewhere than Linux: a wait only yields)."""
        if not self.linux:
            if op == FUTEX_WAIT_PRIVATE:
                b.call(self.sched_yield, [])
            return
        address = b.ptrtoint(self.field(b, state, FUTEX), I64)
        b.call(self.syscall, [c64(SYS_FUTEX), address, c64(op), value, c64(0), c64(0), c64(0)])

    @staticmethod
    def invoke(b, calls, index):
        """Make call ``index`` of the list at ``calls``."""
        fn, table, lo, hi = (b.load(b.gep(calls, [b.add(b.mul(index, c64(CALL_WORDS)), c64(w))], source_etype=I64),
                                    typ=I64) for w in range(CALL_WORDS))
        b.call(b.inttoptr(fn, KERNEL.as_pointer()), [b.inttoptr(table, PTR), lo, hi])

    def wake_all(self, b, state):
        """Bump the futex word and wake whoever sleeps on it."""
        b.atomic_rmw("add", self.field(b, state, FUTEX), ir.Constant(I32, 1), SEQ)
        sleeping = b.icmp_signed(">", self.load(b, state, SLEEPERS, SEQ), c64(0))
        with b.if_then(sleeping):
            self.futex(b, state, FUTEX_WAKE_PRIVATE, c64(0x7FFFFFFF))

    # -- functions ----------------------------------------------------------
    def _claim(self):
        """claim(state, generation): run calls of that generation while any is unclaimed."""
        f = Fn(self.module, "graphc_pool_claim", [PTR, I64])
        b, (state, generation) = f.b, f.fn.args
        head, take, done = (f.fn.append_basic_block(n) for n in ("head", "take", "done"))
        b.branch(head)
        b.position_at_end(head)
        ticket = self.load(b, state, TICKET)
        index, count = b.and_(ticket, c64(0xFFFF)), b.and_(b.lshr(ticket, c64(16)), c64(0xFFFF))
        open_ = b.and_(b.icmp_unsigned("==", b.lshr(ticket, c64(32)), generation), b.icmp_unsigned("<", index, count))
        b.cbranch(open_, take, done)
        b.position_at_end(take)
        swapped = b.extract_value(b.cmpxchg(self.field(b, state, TICKET), ticket, b.add(ticket, c64(1)), "acq_rel", ACQ), 1)
        with b.if_then(swapped):   # (a stable list: its publisher waits for this call to finish)
            self.invoke(b, b.inttoptr(b.load(self.field(b, state, CALLS), typ=I64), PTR), index)
            b.atomic_rmw("add", self.field(b, state, FINISHED), c64(1), REL)
        b.branch(head)
        b.position_at_end(done)
        b.ret_void()
        return f.fn

    def _worker(self):
        """graphc_pool_worker(state): a worker thread's life, until QUIT is set."""
        f = Fn(self.module, "graphc_pool_worker", [PTR], linkage=None)
        b, (state,) = f.b, f.fn.args
        seen = b.alloca(I64)
        since = b.alloca(I64)
        b.store(b.lshr(self.load(b, state, TICKET), c64(32)), seen)
        b.store(b.call(self.clock, []), since)
        poll, work, idle, sleep, out = (f.fn.append_basic_block(n) for n in ("poll", "work", "idle", "sleep", "out"))
        b.branch(poll)
        b.position_at_end(poll)
        with b.if_then(b.icmp_signed("!=", self.load(b, state, QUIT), c64(0))):
            b.branch(out)
        generation = b.lshr(self.load(b, state, TICKET), c64(32))
        b.cbranch(b.icmp_unsigned("!=", generation, b.load(seen, typ=I64)), work, idle)
        b.position_at_end(work)
        b.store(generation, seen)
        b.call(self.claim, [state, generation])
        b.store(b.call(self.clock, []), since)
        b.branch(poll)
        b.position_at_end(idle)
        self.relax(b)
        spun = b.sub(b.call(self.clock, []), b.load(since, typ=I64))
        b.cbranch(b.icmp_signed("<", spun, self.load(b, state, SPIN_CYCLES, "monotonic")), poll, sleep)
        b.position_at_end(sleep)   # (register as a sleeper, then look once more before the futex waits)
        b.atomic_rmw("add", self.field(b, state, SLEEPERS), c64(1), SEQ)
        word = b.zext(b.load_atomic(self.field(b, state, FUTEX), SEQ, 4, typ=I32), I64)
        unchanged = b.icmp_unsigned("==", b.lshr(self.load(b, state, TICKET, SEQ), c64(32)), b.load(seen, typ=I64))
        running = b.icmp_signed("==", self.load(b, state, QUIT, SEQ), c64(0))
        with b.if_then(b.and_(unchanged, running)):
            self.futex(b, state, FUTEX_WAIT_PRIVATE, word)
        b.atomic_rmw("sub", self.field(b, state, SLEEPERS), c64(1), SEQ)
        b.store(b.call(self.clock, []), since)
        b.branch(poll)
        b.position_at_end(out)
        b.ret_void()

    def _run(self):
        """graphc_pool_run(state, calls, n): run n calls, on the pool when it is free."""
        f = Fn(self.module, "graphc_pool_run", [PTR, PTR, I64], linkage=None)
        b, (state, calls, n) = f.b, f.fn.args
        got = b.extract_value(b.cmpxchg(self.field(b, state, BUSY), c64(0), c64(1), ACQ, "monotonic"), 1)
        with b.if_else(got) as (pool, alone):
            with pool:
                generation = b.and_(b.add(b.load(self.field(b, state, GENERATION), typ=I64), c64(1)), c64(0xFFFFFFFF))
                b.store(generation, self.field(b, state, GENERATION))
                b.store(b.ptrtoint(calls, I64), self.field(b, state, CALLS))
                self.store(b, c64(0), state, FINISHED, "monotonic")
                ticket = b.or_(b.shl(generation, c64(32)), b.shl(n, c64(16)))
                self.store(b, ticket, state, TICKET, SEQ)
                self.wake_all(b, state)
                b.call(self.claim, [state, generation])
                self._wait_finished(f, state, n)
                self.store(b, c64(0), state, BUSY, REL)
            with alone:   # (another thread's run holds the pool: these calls in order, here)
                f.loop(c64(0), n, 1, lambda i, _: self.invoke(b, calls, i))
        b.ret_void()

    def _wait_finished(self, f, state, n):
        """Spin until ``n`` calls are finished; yield the CPU once spinning took too long."""
        b = f.b
        start = b.call(self.clock, [])
        head, body, done = (f.fn.append_basic_block(x) for x in ("wait", "spin", "finished"))
        b.branch(head)
        b.position_at_end(head)
        b.cbranch(b.icmp_signed("<", self.load(b, state, FINISHED), n), body, done)
        b.position_at_end(body)
        self.relax(b)
        long = b.icmp_signed(">", b.sub(b.call(self.clock, []), start), self.load(b, state, SPIN_CYCLES, "monotonic"))
        with b.if_then(long):
            b.call(self.sched_yield, [])
        b.branch(head)
        b.position_at_end(done)

    def _plan(self):
        """graphc_run_plan(state, calls, stages, count): stage s is stages[2s + 1] calls from
        call stages[2s]; a stage of one call runs inline, a longer one on the pool."""
        f = Fn(self.module, "graphc_run_plan", [PTR, PTR, PTR, I64], linkage=None)
        b, (state, calls, stages, count) = f.b, f.fn.args
        run = self.module.globals["graphc_pool_run"]

        def stage(s, _):
            first, n = (b.load(b.gep(stages, [b.add(b.mul(s, c64(2)), c64(w))], source_etype=I64), typ=I64)
                        for w in (0, 1))
            with b.if_else(b.icmp_signed("==", n, c64(1))) as (single, shared):
                with single:
                    self.invoke(b, calls, first)
                with shared:
                    b.call(run, [state, b.gep(calls, [b.mul(first, c64(CALL_WORDS))], source_etype=I64), n])
        f.loop(c64(0), count, 1, stage)
        b.ret_void()

    def _stop(self):
        """graphc_pool_stop(state): set QUIT and wake every sleeping worker."""
        f = Fn(self.module, "graphc_pool_stop", [PTR], linkage=None)
        b, (state,) = f.b, f.fn.args
        self.store(b, c64(1), state, QUIT, SEQ)
        self.wake_all(b, state)
        b.ret_void()


def add_work_pool(module, x86=True, linux=True):
    """Add graphc_pool_worker, graphc_pool_run, graphc_run_plan and graphc_pool_stop to
    ``module`` (``x86``: spin with the pause instruction; ``linux``: idle workers sleep on a
    futex, elsewhere they yield the CPU in a loop)."""
    _Pool(module, x86, linux)
