"""Torch-free values shared by every stage: dimensions, shapes, element types.

A shape never includes the batch dimension (it is implicit in the language). A dimension
is an ``int`` or a symbolic name (``str``) such as ``"seq"``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Union

Dim = Union[int, str]

DTYPES = ("float", "long", "int", "bool")


BATCH = "B"


@dataclass(frozen=True)
class TensorType:
    """The type of one example: an element type and a shape without the batch dim.

    ``batch_dim`` says where PyTorch keeps the batch: 0 for nearly everything, 1 for an RNN's
    hidden state ``(layers, B, hidden)``, None for a value with no batch at all (a loss).
    """

    dtype: str
    shape: tuple[Dim, ...]
    batch_dim: int | None = 0

    def __str__(self) -> str:
        return f"{self.dtype}[{', '.join(str(d) for d in self.shape)}]"

    @property
    def full(self) -> tuple[Dim, ...]:
        """The shape as PyTorch sees it, with ``"B"`` for the batch."""
        if self.batch_dim is None:
            return self.shape
        return (*self.shape[: self.batch_dim], BATCH, *self.shape[self.batch_dim:])

    @property
    def batched(self) -> str:
        """The shape as PyTorch sees it, with ``B`` for the batch: ``(B, 50)``."""
        return "(" + ", ".join(str(d) for d in self.full) + ("," if len(self.full) == 1 else "") + ")"

    @staticmethod
    def from_full(dtype: str, full: tuple[Dim, ...]) -> "TensorType":
        """Inverse of :attr:`full`: find the ``"B"`` and take it out."""
        if BATCH in full:
            i = full.index(BATCH)
            return TensorType(dtype, tuple(full[:i]) + tuple(full[i + 1:]), i)
        return TensorType(dtype, tuple(full), None)


@dataclass(frozen=True)
class TupleType:
    """Several values, as returned by an LSTM ``(output, (h, c))``."""

    items: tuple["ValueType", ...]

    def __str__(self) -> str:
        # items as PyTorch sees them (batch included), as every shape in a message is shown
        return "(" + ", ".join(i.batched if isinstance(i, TensorType) else str(i) for i in self.items) + ")"


@dataclass(frozen=True)
class StrType:
    """A text field (``text_folder``) before it is encoded."""

    def __str__(self) -> str:
        return "str"


@dataclass(frozen=True)
class IntType:
    """A whole number computed when the model runs: a dim that varies between batches (``t``,
    read as ``tokens.size(1)``), or arithmetic on one (``t - 1``). ``size`` is what it stands
    for in check-time shapes."""

    size: Dim

    def __str__(self) -> str:
        return f"int {self.size}"

    @property
    def batched(self) -> str:
        return f"int {self.size}"


@dataclass(frozen=True)
class DeviceType:
    """The device of an input (``x.device``), where builders such as ``arange`` make their tensors."""

    def __str__(self) -> str:
        return "device"

    batched = "device"


ValueType = Union[TensorType, TupleType, StrType, IntType, DeviceType]


@dataclass(frozen=True)
class Ref:
    """A reference to a value computed earlier in an IR graph, by its unique name."""

    name: str


@dataclass(frozen=True)
class SymInt:
    """A dim name used as a value whose number varies between batches: ``ref`` computes it when
    the model runs, ``size`` is the symbolic dim it stands for (``"t"``, ``"t - 1"``)."""

    ref: Ref
    size: Dim


def size_of(v) -> Dim:
    """The dim a size argument stands for: a number, or a :class:`SymInt`'s symbol."""
    return v.size if isinstance(v, SymInt) else v
