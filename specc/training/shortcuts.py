"""Facts about a model and its loss that let the trainer take a shorter path (see
:mod:`specc.training.tuning`): a loss graph that is one module call, and whether evaluation
may use larger batches than training without changing what is computed.
"""
from __future__ import annotations

from torch import fx, nn

# Modules whose eval-mode output for one example depends on the other examples of the batch:
# batch norms that normalise with the batch's statistics instead of running ones.
_BATCH_NORMS = (nn.modules.batchnorm._BatchNorm,)


def direct_module(fn) -> nn.Module | None:
    """The module that ``fn`` (an fx GraphModule) only forwards its inputs to, or None.

    ``loss = cross_entropy`` compiles to a graph ``out = self.cross_entropy(output, target)``;
    calling the ``nn.CrossEntropyLoss`` itself computes the same, a wrapper call sooner.
    """
    if not isinstance(fn, fx.GraphModule):
        return None
    nodes = list(fn.graph.nodes)
    inputs = [n for n in nodes if n.op == "placeholder"]
    calls = [n for n in nodes if n.op not in ("placeholder", "output")]
    if len(calls) != 1:
        return None
    call, output = calls[0], nodes[-1]
    if call.op != "call_module" or call.kwargs or list(call.args) != inputs \
            or output.args != (call,):
        return None
    return fn.get_submodule(call.target)


def mean_loss(loss_fn) -> bool:
    """True if ``loss_fn`` is a torch loss module that averages over its elements, so a batch
    mean weighted by the batch size sums to the split's mean whatever the batch size."""
    return isinstance(loss_fn, nn.modules.loss._Loss) and loss_fn.reduction == "mean"


def batch_independent(model: nn.Module) -> bool:
    """True if every module is torch's own and none uses batch statistics in eval mode, so the
    eval output of an example does not depend on which batch it is in. Imported layers are
    unknown, hence False."""
    for module in model.modules():
        if not type(module).__module__.startswith("torch."):
            return False
        if isinstance(module, _BATCH_NORMS) and not module.track_running_stats:
            return False
    return True


def eval_batch_size(example_elements: int, batch_size: int, examples: int,
                    budget: int) -> int:
    """Examples per evaluation batch: as many as fit in ``budget`` input elements, at least
    the training ``batch_size``, at most the split."""
    wide = budget // max(example_elements, 1)
    return max(1, min(examples, max(batch_size, wide)))
