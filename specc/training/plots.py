"""Pictures of a run: loss and metric curves, a decision boundary, a fitted curve and its
animation. Each title names the model and spec (``PlotContext.title``); the loss axis names
the loss; a metric's plot (``plot = [accuracy]``) draws every split the history has of it.

matplotlib is optional: it is imported only here and only when a plot is asked for; if it
is missing the plots are skipped with a reporter note. Figures are built with the object
API on an Agg canvas (no pyplot), so nothing changes the process's global backend.

``plot_data`` is ``(x, y)``, plain tensors of the train split. ``decision_boundary`` needs a
2-D float ``x`` and a classifier; ``fit`` needs one float per example in ``x`` and ``y``.
``fit.gif`` is drawn from curves captured after every epoch by :class:`FitRecorder` (a hook
of the loop), so only epochs trained in this process appear in it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch import nn, Tensor

from specc.training.config import METRICS
from specc.training.progress import Reporter

GRID = 200            # grid points per axis for the decision boundary
CURVE_POINTS = 200    # points on the fitted curve
MAX_SCATTER = 2000    # data points drawn (a random subset past this)
MAX_FRAMES = 40        # animation frames (epochs are subsampled past this)


class Skip(Exception):
    """A plot that does not apply to this model or data; the message says why."""


@dataclass
class PlotContext:
    out_dir: Path
    history: list[dict]
    model: nn.Module
    device: torch.device
    data: tuple[Tensor, Tensor] | None
    threshold: float = 0.0
    frames: list[tuple[int, Tensor]] = field(default_factory=list)
    title: str = ""
    loss_name: str = "loss"

    def titled(self, what: str) -> str:
        return f"{what}: {self.title}" if self.title else what


def _figure():
    from matplotlib.figure import Figure

    return Figure(figsize=(6, 4.5), dpi=100, layout="tight")


@torch.no_grad()
def _predict(model: nn.Module, x: Tensor, device: torch.device, chunk: int = 8192) -> Tensor:
    """``model(x)`` in eval mode on ``device``, in chunks, back on the CPU as float."""
    was_training = model.training
    model.eval()
    try:
        outs = [model(x[i:i + chunk].to(device)).float().cpu() for i in range(0, len(x), chunk)]
    finally:
        model.train(was_training)
    return torch.cat(outs)


def _subset(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    if len(x) <= MAX_SCATTER:
        return x, y
    keep = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))[:MAX_SCATTER]
    return x[keep], y[keep]


def plot_curves(ctx: PlotContext, metric: str) -> list[Path]:
    """``metric`` per epoch on every split the history has it for (train and valid together),
    into ``<metric>.png``; the loss on a log scale when it spans two decades."""
    if not ctx.history:
        raise Skip(f"{metric}: no epoch has finished")
    keys = [f"{split}.{metric}" for split in ("train", "valid") if f"{split}.{metric}" in ctx.history[0]]
    if not keys:
        raise Skip(f"{metric}: the history has no {metric}")
    fig = _figure()
    ax = fig.add_subplot()
    epochs = [row["epoch"] for row in ctx.history]
    values = []
    for key in keys:
        ys = [row[key] for row in ctx.history]
        values += ys
        ax.plot(epochs, ys, label=key.split(".")[0], marker="." if len(ys) < 30 else None)
    finite = [v for v in values if v == v and abs(v) != float("inf")]
    if metric == "loss" and finite and min(finite) > 0 and max(finite) / min(finite) > 100:
        ax.set_yscale("log")
    label = f"loss ({ctx.loss_name})" if metric == "loss" else metric
    ax.set(xlabel="epoch", ylabel=label, title=ctx.titled(metric))
    ax.legend()
    path = ctx.out_dir / f"{metric}.png"
    fig.savefig(path)
    return [path]


def _one_feature(ctx: PlotContext, plot: str) -> tuple[Tensor, Tensor]:
    if ctx.data is None:
        raise Skip(f"{plot}: no training data was given to plot")
    x, y = ctx.data
    if not x.is_floating_point() or x[0].numel() != 1 or y[0].numel() != 1 or len(x) != len(y):
        raise Skip(f"{plot}: needs one float input and one target per example. Received: x "
                   f"{tuple(x.shape)} {str(x.dtype).removeprefix('torch.')}, y {tuple(y.shape)}")
    return x, y


def plot_decision_boundary(ctx: PlotContext) -> list[Path]:
    """Predicted class over a grid covering the data, with the data points on top."""
    if ctx.data is None:
        raise Skip("decision_boundary: no training data was given to plot")
    x, y = ctx.data
    if x.dim() != 2 or x.shape[1] != 2 or not x.is_floating_point():
        raise Skip(f"decision_boundary: needs a 2-D float input [N, 2]. Received: x "
                   f"{tuple(x.shape)} {str(x.dtype).removeprefix('torch.')}")
    lo, hi = x.min(0).values, x.max(0).values
    pad = (hi - lo) * 0.1 + 1e-3
    gx = torch.linspace(float(lo[0] - pad[0]), float(hi[0] + pad[0]), GRID)
    gy = torch.linspace(float(lo[1] - pad[1]), float(hi[1] + pad[1]), GRID)
    xx, yy = torch.meshgrid(gx, gy, indexing="xy")
    grid = torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1).to(x.dtype)
    out = _predict(ctx.model, grid, ctx.device)
    if out.dim() == 2 and out.shape[1] > 1:
        classes = out.argmax(1)
    elif out.numel() == len(grid):
        classes = (out.reshape(-1) > ctx.threshold).long()
    else:
        raise Skip(f"decision_boundary: needs a classifier's output [N, C] or [N]. Received: "
                   f"{tuple(out.shape)}")
    from matplotlib import colormaps
    from matplotlib.colors import BoundaryNorm, ListedColormap
    from matplotlib.patches import Patch

    px, py = _subset(x, y.reshape(len(y), -1)[:, 0])
    count = max(int(classes.max()), int(py.max())) + 1
    colors = colormaps["coolwarm"].resampled(count)(range(count)) if count > 1 else ["C0"]
    cmap, norm = ListedColormap(colors), BoundaryNorm([c - 0.5 for c in range(count + 1)], count)
    fig = _figure()
    ax = fig.add_subplot()
    ax.contourf(xx.numpy(), yy.numpy(), classes.reshape(GRID, GRID).numpy(), alpha=0.3,
                cmap=cmap, norm=norm, levels=[c - 0.5 for c in range(count + 1)])
    ax.scatter(px[:, 0].numpy(), px[:, 1].numpy(), c=py.float().numpy(), cmap=cmap, norm=norm,
               s=8, edgecolors="k", linewidths=0.2)
    ax.legend(handles=[Patch(color=colors[c], label=f"class {c}") for c in range(count)],
              title="predicted region; points: train split", fontsize="small",
              title_fontsize="small", loc="best")
    ax.set(xlabel="x[0]", ylabel="x[1]", title=ctx.titled("decision regions"))
    path = ctx.out_dir / "decision_boundary.png"
    fig.savefig(path)
    return [path]


def curve_inputs(x: Tensor) -> Tensor:
    """Evenly spaced inputs over the data's range, shaped like ``x``'s examples."""
    lo, hi = float(x.min()), float(x.max())
    return torch.linspace(lo, hi, CURVE_POINTS, dtype=x.dtype).reshape(-1, *x.shape[1:])


def plot_fit(ctx: PlotContext) -> list[Path]:
    """``fit.png`` (data and fitted curve) and, with captured frames, ``fit.gif``."""
    x, y = _one_feature(ctx, "fit")
    xs = curve_inputs(x)
    curve = _predict(ctx.model, xs, ctx.device)
    if curve.numel() != len(xs):
        raise Skip(f"fit: needs one output per example. Received: {tuple(curve.shape)}")
    px, py = _subset(x.reshape(-1), y.reshape(-1))
    fig = _figure()
    ax = fig.add_subplot()
    ax.scatter(px.numpy(), py.float().numpy(), s=6, alpha=0.4, label="train split")
    (line,) = ax.plot(xs.reshape(-1).numpy(), curve.reshape(-1).numpy(), color="C1", lw=2,
                      label="model")
    ax.set(xlabel="x", ylabel="y", title=ctx.titled("fit"))
    ax.legend()
    paths = [ctx.out_dir / "fit.png"]
    fig.savefig(paths[0])
    if ctx.frames:
        paths.append(_animate(fig, ax, line, ctx.frames, ctx.out_dir / "fit.gif",
                              ctx.titled("fit")))
    return paths


def _animate(fig, ax, line, frames: list[tuple[int, Tensor]], path: Path, title: str) -> Path:
    from matplotlib.animation import PillowWriter

    if len(frames) > MAX_FRAMES:  # keep the first and last, evenly spaced in between
        picks = torch.linspace(0, len(frames) - 1, MAX_FRAMES).round().long().unique().tolist()
        frames = [frames[i] for i in picks]
    lows = [float(c.min()) for _, c in frames] + [ax.get_ylim()[0]]
    highs = [float(c.max()) for _, c in frames] + [ax.get_ylim()[1]]
    ax.set_ylim(min(lows), max(highs))
    fig.set_layout_engine("none")  # laid out once by fit.png; per-frame layout is most of the cost
    writer = PillowWriter(fps=10)
    with writer.saving(fig, str(path), dpi=60):
        for epoch, curve in frames:
            line.set_ydata(curve.reshape(-1).numpy())
            ax.set_title(f"{title}, epoch {epoch}")
            writer.grab_frame()
    return path


class FitRecorder:
    """Loop hook: after each epoch, the model's curve over :func:`curve_inputs` (one small
    forward pass and one device-to-host copy per epoch)."""

    def __init__(self, x: Tensor, device: torch.device):
        self.xs = curve_inputs(x).to(device)
        self.frames: list[tuple[int, Tensor]] = []

    def on_epoch_end(self, epoch: int, model: nn.Module, row: dict) -> None:
        self.frames.append((epoch, _predict(model, self.xs, self.xs.device)))


PLOTTERS: dict[str, Callable[[PlotContext], list[Path]]] = {
    "loss": lambda ctx: plot_curves(ctx, "loss"),
    "decision_boundary": plot_decision_boundary,
    "fit": plot_fit,
    **{metric: (lambda ctx, m=metric: plot_curves(ctx, m)) for metric in METRICS},
}


def fit_recorder(plot: tuple[str, ...], data: tuple[Tensor, Tensor] | None,
                 device: torch.device) -> FitRecorder | None:
    """A recorder when ``fit`` is asked for and the data has one float feature."""
    if "fit" not in plot or data is None:
        return None
    x, _ = data
    if not x.is_floating_point() or x[0].numel() != 1:
        return None
    return FitRecorder(x, device)


def make_plots(names: tuple[str, ...], ctx: PlotContext, reporter: Reporter) -> list[Path]:
    """Draw each named plot into ``ctx.out_dir``; skipped ones become reporter notes."""
    if not names:
        return []
    try:
        import matplotlib  # noqa: F401  (only to find out whether it is installed)
    except ImportError:
        reporter.note("plots skipped: matplotlib is not installed (pip install 'specc[plots]')")
        return []
    ctx.out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name in names:
        try:
            written += PLOTTERS[name](ctx)
        except Skip as skip:
            reporter.note(f"plot skipped: {skip}")
    return written
