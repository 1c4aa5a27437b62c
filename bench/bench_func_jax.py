"""specc's eager fast path beside the whole-step-as-one-graph ways: torch.func under
torch.compile, and JAX (a jitted step, and ``lax.scan`` over an epoch), in one process.

    python bench/bench_func_jax.py [--workload moons,digits] [--repeats 3] [--threads 1]
                                   [--ways specc,specc_plain,ideal,ideal_fused,func,jax_jit,jax_scan]

Ways (besides those of bench_ways.py):

- ``specc_plain``: specc with the ``fused_step`` setting off (``optimizer.step()`` of the fused
  Adam), to show what the direct fused step is worth.
- ``func``: one graph per step as a PyTorch user writes it: ``torch.func.grad_and_value`` over
  ``functional_call``, Adam as tensor ops (torch's update rule), the whole step under
  ``torch.compile(fullgraph=True)``; evaluation eager.
- ``jax_jit``: the same MLP in JAX, ``jax.jit`` of value_and_grad + ``optax.adam`` (the batch
  gathered inside the jitted step), losses kept on the device and read once per epoch.
- ``jax_scan``: the epoch's full batches as one ``lax.scan`` in one jitted call (a last short
  batch through the jitted step).

The JAX ways need ``pip install specc[bench]`` (jax, optax); without jax they are skipped with a
message. Each way gets the same data, initial weights, Adam settings and batch order source
(``torch.randperm``); epochs include evaluating the valid split. Seconds per epoch are medians
over the epochs after the first, pooled over repeats, ways interleaved in a rotating order; the
warm-up is the first repeat's first epoch minus that median (compilation, for the compiled ways;
inductor's on-disk caches are off, so it is what a first run pays).
Only the moons and digits MLPs (Linear-ReLU-Linear) are written for JAX.
"""
from __future__ import annotations

import argparse
from datetime import date
import os
import platform
import sys
import time

# the warm-up a first run pays: inductor's on-disk caches off (read when torch is imported;
# JAX's compilation cache is off by default)
os.environ.setdefault("TORCHINDUCTOR_FORCE_DISABLE_CACHES", "1")
import torch  # noqa: E402

from bench_ways import WAYS, Run, _finish, _Meter, run_specc  # noqa: E402
from bench_workloads import WORKLOADS, Split, Workload  # noqa: E402
import train_bench  # noqa: E402


def _jax():
    """jax and optax, or None (with the reason printed once) when they are not installed."""
    try:
        import jax
        import optax
    except ImportError as exc:
        if not getattr(_jax, "said", False):
            print(f"jax ways skipped: {exc.name} is not installed (pip install specc[bench])")
            _jax.said = True
        return None
    return jax, optax


def run_specc_plain(wl: Workload, train: Split, valid: Split | None, model, epochs: int,
                    batch: int | None = None) -> Run:
    from dataclasses import replace
    from specc.training.tuning import Tuning

    return run_specc(wl, train, valid, None, epochs, torch.get_num_threads(),
                     replace(Tuning(), fused_step=False))


# ---------------------------------------------------------------- torch.func + torch.compile

def run_func(wl: Workload, train: Split, valid: Split | None, model: torch.nn.Module,
             epochs: int, batch: int | None = None) -> Run:
    from torch.func import functional_call, grad_and_value

    batch = batch or wl.batch
    lr, beta1, beta2, eps = wl.lr, 0.9, 0.999, 1e-8
    params = {k: v.detach().clone() for k, v in model.named_parameters()}
    exp_avg = {k: torch.zeros_like(v) for k, v in params.items()}
    exp_avg_sq = {k: torch.zeros_like(v) for k, v in params.items()}
    step = torch.zeros(())

    def loss_of(p, x, y):
        return wl.loss(functional_call(model, p, (x,)), y)

    def train_step(p, m, v, t, x, y):
        grads, loss = grad_and_value(loss_of)(p, x, y)
        t = t + 1
        bias1, bias2 = 1 - beta1 ** t, 1 - beta2 ** t
        new_p, new_m, new_v = {}, {}, {}
        for k in p:
            new_m[k] = m[k].lerp(grads[k], 1 - beta1)
            new_v[k] = v[k] * beta2 + (1 - beta2) * grads[k] * grads[k]
            new_p[k] = p[k] - lr / bias1 * new_m[k] / ((new_v[k] / bias2).sqrt() + eps)
        return new_p, new_m, new_v, t, loss.detach()

    compiled = torch.compile(train_step, fullgraph=True)
    n = len(train)
    run = Run([])
    for _ in range(epochs):
        start = time.perf_counter()
        meter = _Meter(wl.metric)
        perm = torch.randperm(n)
        for i in range(0, n, batch):
            idx = perm[i:i + batch]
            xb, yb = train.x[idx], train.y[idx]
            params, exp_avg, exp_avg_sq, step, loss = compiled(params, exp_avg, exp_avg_sq,
                                                               step, xb, yb)
            meter.add_loss(loss, len(yb))
        vmeter = None
        if valid is not None:
            vmeter = _Meter(wl.metric)
            with torch.no_grad():
                out = functional_call(model, params, (valid.x,))
                vmeter.add(wl.loss(out, valid.y), out, valid.y)
        _finish(run, meter, vmeter)
        run.seconds.append(time.perf_counter() - start)
    return run


# ---------------------------------------------------------------- JAX

def _jax_mlp(model: torch.nn.Module, jnp):
    """The Linear-ReLU-...-Linear model's weights as JAX arrays, [(W.T, b), ...]."""
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    return [(jnp.asarray(m.weight.detach().numpy().T), jnp.asarray(m.bias.detach().numpy()))
            for m in linears]


def _jax_parts(wl: Workload, model, train: Split, valid: Split | None):
    """The pieces both JAX ways share: params, optimizer, jitted step and evaluation, data."""
    jax, optax = _jax()
    jnp = jax.numpy
    if wl.metric != "accuracy" or train.lengths is not None:
        raise SystemExit(f"the JAX ways are written for the MLP classifiers, not {wl.name}")

    def forward(params, x):
        for w, b in params[:-1]:
            x = jax.nn.relu(x @ w + b)
        w, b = params[-1]
        return x @ w + b

    def loss_of(params, x, y):
        return optax.softmax_cross_entropy_with_integer_labels(forward(params, x), y).mean()

    optimizer = optax.adam(wl.lr)

    def update(params, state, x, y):
        loss, grads = jax.value_and_grad(loss_of)(params, x, y)
        updates, state = optimizer.update(grads, state, params)
        return optax.apply_updates(params, updates), state, loss

    @jax.jit
    def step(params, state, X, Y, idx):
        return update(params, state, X[idx], Y[idx])

    @jax.jit
    def scan_epoch(params, state, X, Y, idx):   # idx: [batches, batch]
        def body(carry, i):
            p, s, loss = update(*carry, X[i], Y[i])
            return (p, s), loss
        (params, state), losses = jax.lax.scan(body, (params, state), idx)
        return params, state, losses

    @jax.jit
    def evaluate(params, X, Y):
        out = forward(params, X)
        loss = optax.softmax_cross_entropy_with_integer_labels(out, Y).mean()
        return loss, (out.argmax(1) == Y).sum()

    params = _jax_mlp(model, jnp)
    data = {"X": jnp.asarray(train.x.numpy()), "Y": jnp.asarray(train.y.numpy()),
            "Xv": jnp.asarray(valid.x.numpy()) if valid is not None else None,
            "Yv": jnp.asarray(valid.y.numpy()) if valid is not None else None}
    return jnp, params, optimizer.init(params), step, scan_epoch, evaluate, data


def _jax_epochs(wl, train, valid, model, epochs, batch, scanned: bool) -> Run:
    import numpy as np

    jnp, params, state, step, scan_epoch, evaluate, d = _jax_parts(wl, model, train, valid)
    batch = batch or wl.batch
    n = len(train)
    full = n // batch * batch
    run = Run([])
    for _ in range(epochs):
        start = time.perf_counter()
        perm = torch.randperm(n).numpy().astype(np.int32)
        losses, sizes = [], []
        if scanned:
            params, state, scan_losses = scan_epoch(params, state, d["X"], d["Y"],
                                                    perm[:full].reshape(-1, batch))
            losses.append(scan_losses * batch)
            sizes.append(full)
            rest = range(full, n, batch)
        else:
            rest = range(0, n, batch)
        for i in rest:
            idx = perm[i:i + batch]
            params, state, loss = step(params, state, d["X"], d["Y"], idx)
            losses.append(loss * len(idx))
            sizes.append(len(idx))
        run.train_loss = float(sum(float(jnp.sum(v)) for v in losses)) / sum(sizes)
        if valid is not None:
            loss, correct = evaluate(params, d["Xv"], d["Yv"])
            run.valid_loss, run.metric = float(loss), int(correct) / len(valid)
        run.seconds.append(time.perf_counter() - start)
    return run


def run_jax_jit(wl, train, valid, model, epochs, batch=None) -> Run:
    return _jax_epochs(wl, train, valid, model, epochs, batch, scanned=False)


def run_jax_scan(wl, train, valid, model, epochs, batch=None) -> Run:
    return _jax_epochs(wl, train, valid, model, epochs, batch, scanned=True)


MORE_WAYS = {"specc_plain": run_specc_plain, "func": run_func, "jax_jit": run_jax_jit,
             "jax_scan": run_jax_scan}


def warm_up(runs: list[Run]) -> float:
    """The first repeat's first epoch over the steady median: what the process's first run
    pays (later repeats may reuse what it compiled: dynamo caches by code object)."""
    return runs[0].seconds[0] - train_bench.steady(runs)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workload", default="moons,digits")
    p.add_argument("--ways", default="specc,specc_plain,ideal,ideal_fused,func,jax_jit,jax_scan")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--epochs", type=int, default=0, help="default: the workload's")
    p.add_argument("--threads", type=train_bench.parse_threads, default=1)
    args = p.parse_args()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"# {date.today()}  {train_bench.cpu_model()}, {os.cpu_count()} cores, torch "
          f"{torch.__version__}, python {platform.python_version()}, load average {load}")
    print(f"# command: python bench/bench_func_jax.py {' '.join(sys.argv[1:])}")
    WAYS.update(MORE_WAYS)
    ways = [w for w in args.ways.split(",") if not w.startswith("jax") or _jax() is not None]
    for name in args.workload.split(","):
        wl = WORKLOADS[name]
        epochs = args.epochs or wl.epochs
        runs = train_bench.compare(wl, ways, args.repeats, epochs, args.threads)
        base = train_bench.steady(runs["ideal"])
        steps = -(-len(train_bench.load_data(wl.spec_text(epochs), wl.input)[0]) // wl.batch)
        print(f"\n## {name}: batch {wl.batch}, {steps} steps/epoch, {epochs} epochs x "
              f"{args.repeats} repeats, threads {args.threads or 'default'}")
        print(f"{'way':<14}{'s/epoch':>9}{'us/step':>9}{'x ideal':>9}{'warm-up s':>11}"
              f"{'train.loss':>12}{'valid.acc':>11}")
        for way, rs in runs.items():
            t = train_bench.steady(rs)
            print(f"{way:<14}{t:9.4f}{t / steps * 1e6:9.1f}{t / base:9.2f}{warm_up(rs):11.2f}"
                  f"{rs[-1].train_loss:12.5f}{rs[-1].metric:11.4f}")


if __name__ == "__main__":
    if "--threads" not in sys.argv or sys.argv[sys.argv.index("--threads") + 1] == "1":
        # XLA's CPU client: one intra-op thread, as torch gets (set before jax is imported)
        os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false "
                                           "intra_op_parallelism_threads=1")
    main()
