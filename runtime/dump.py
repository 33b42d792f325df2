"""``GRAPHC_DUMP=DIR``: every compilation writes its stages (and generated code) under DIR."""
import os
import re
from itertools import count

from ..passes.pipeline import stage_text

_compilations = count()


def dump_requested():
    """The directory GRAPHC_DUMP names, or None."""
    return os.environ.get("GRAPHC_DUMP") or None


def dump(stages, directory, extra=()):
    """Write one numbered file per stage of this compilation under ``directory``, then the
    ``extra`` (file suffix, text) pairs, e.g. the generated LLVM IR."""
    outputs = stages[0].graph.outputs or ()
    label = re.sub(r"[^A-Za-z0-9_.-]", "_", outputs[0].name if outputs else "graph")
    folder = os.path.join(directory, f"{next(_compilations):04d}-{os.getpid()}-{label}")
    os.makedirs(folder, exist_ok=True)
    for i, stage in enumerate(stages):
        with open(os.path.join(folder, f"{i:02d}-{stage.name}.txt"), "w") as f:
            f.write(stage_text(stage, blobs=True))
    for i, (suffix, text) in enumerate(extra, start=len(stages)):
        with open(os.path.join(folder, f"{i:02d}-{suffix}"), "w") as f:
            f.write(text)
