"""``gc.layers.plot_history``: training curves with matplotlib (the ``plot`` extra)."""


def plot_history(history, path=None, metrics=None):
    """A matplotlib Figure with one panel per metric ("loss", "accuracy", ...), each with
    the training curve and, when ``fit`` had validation data, the validation curve, over
    epochs 1..n. ``history`` is what ``fit`` returns (or its ``history`` dict);
    ``metrics`` picks the panels (default: every key without "val_", in order).
    With ``path`` the figure is also written there (PNG, SVG or PDF by its suffix).
    """
    try:
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        raise ImportError("plot_history needs matplotlib: pip install 'graphc[plot]'") from None
    logs = getattr(history, "history", history)
    epochs = list(getattr(history, "epoch", range(len(next(iter(logs.values()), [])))))
    names = list(metrics) if metrics is not None else [k for k in logs if not k.startswith("val_")]
    unknown = [k for k in names if k not in logs]
    if unknown or not names:
        raise ValueError(f"plot_history: no curve {unknown or 'at all'} in the history (it has {list(logs)})")
    fig = Figure(figsize=(4.5 * len(names), 3.4), layout="constrained")
    for i, name in enumerate(names):
        ax = fig.add_subplot(1, len(names), i + 1)
        x = [e + 1 for e in epochs]
        validation = f"val_{name}" in logs
        ax.plot(x, logs[name], marker="o", markersize=3, label=f"train {name}" if validation else name)
        if validation:
            ax.plot(x, logs[f"val_{name}"], marker="o", markersize=3, label=f"validation {name}")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_title(name)
        ax.grid(alpha=0.3)
        ax.legend()
    if path is not None:
        fig.savefig(path, dpi=110)
    return fig
