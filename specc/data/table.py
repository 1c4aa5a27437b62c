"""A loaded data set held in memory: one tensor per field, examples along dimension 0.

Invariants (checked by :meth:`Table.lint`):

- every tensor in ``fields`` and every list in ``texts`` has the same length, ``len(table)``;
- a variable-length field ``f`` is stored as ``fields[f]`` of shape ``[N, L, ...]`` padded to
  the longest example ``L`` (the batchers re-pad with the spec's ``pad``), and ``lengths[f]`` (``long [N]``, CPU) holds
  each example's true length (>= 1);
- ``texts`` holds ``str`` fields before an encoder turns them into tensors.

A Table is never mutated in place by this package; :meth:`select` and :meth:`with_field`
return new Tables that share storage where torch allows it.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Mapping

import torch
from torch import Tensor


@dataclass
class Table:
    """Fields of N examples. See the module docstring for the invariants."""

    fields: dict[str, Tensor]
    lengths: dict[str, Tensor] = field(default_factory=dict)
    texts: dict[str, list[str]] = field(default_factory=dict)
    class_names: list[str] | None = None
    feature_names: list[str] | None = None    # csv: the columns of ``x``, in order
    vocab: list[str] | None = None            # text_file: token id i is vocab[i]
    classes_of: dict[str, list[str]] = field(default_factory=dict)   # csv of several targets: names per class field
    ordered: bool = False                     # text_file: consecutive pieces of one text

    @classmethod
    def from_tensors(cls, fields: Mapping[str, Tensor], class_names: list[str] | None = None
                     ) -> "Table":
        """A Table of fixed-size fields (the ``generate``/``tensors`` sources)."""
        table = cls(dict(fields), class_names=class_names)
        table.lint()
        return table

    def __len__(self) -> int:
        for t in self.fields.values():
            return int(t.shape[0])
        for s in self.texts.values():
            return len(s)
        return 0

    @property
    def names(self) -> list[str]:
        """Every field name, tensor fields first, then text fields."""
        return [*self.fields, *self.texts]

    def column(self, name: str) -> Tensor:
        """The tensor of field ``name`` (used by :func:`specc.data.split.split`)."""
        return self.fields[name]

    def select(self, index: Tensor) -> "Table":
        """The examples at ``index`` (a 1-D long tensor), in that order.

        Variable-length fields are cut to the longest selected example, so a subset never
        carries another subset's padding width.
        """
        index = index.to(torch.long)
        cpu_index = index.cpu()
        fields = {k: v.index_select(0, index.to(v.device)) for k, v in self.fields.items()}
        lengths = {k: v.index_select(0, cpu_index) for k, v in self.lengths.items()}
        for k, ln in lengths.items():
            width = int(ln.max()) if len(ln) else 0
            fields[k] = fields[k][:, :width]
        picks = cpu_index.tolist()
        texts = {k: [v[i] for i in picks] for k, v in self.texts.items()}
        return replace(self, fields=fields, lengths=lengths, texts=texts)

    def with_field(self, name: str, value: Tensor, lengths: Tensor | None = None) -> "Table":
        """A Table with ``name`` set to ``value`` (and dropped from ``texts``)."""
        fields = {**self.fields, name: value}
        all_lengths = {k: v for k, v in self.lengths.items() if k != name}
        if lengths is not None:
            all_lengths[name] = lengths.to("cpu", torch.long)
        texts = {k: v for k, v in self.texts.items() if k != name}
        table = replace(self, fields=fields, lengths=all_lengths, texts=texts)
        table.lint()
        return table

    def without(self, name: str) -> "Table":
        """A Table without field ``name`` (tensor or text)."""
        return replace(self, fields={k: v for k, v in self.fields.items() if k != name},
                       lengths={k: v for k, v in self.lengths.items() if k != name},
                       texts={k: v for k, v in self.texts.items() if k != name})

    def lint(self) -> None:
        """Check the invariants; a violation is a bug in specc, not in the spec."""
        sizes = {k: int(v.shape[0]) for k, v in self.fields.items()}
        sizes.update({f"{k} (text)": len(v) for k, v in self.texts.items()})
        if len(set(sizes.values())) > 1:
            raise ValueError(f"Table fields disagree on the number of examples: {sizes}")
        for k, ln in self.lengths.items():
            if k not in self.fields:
                raise ValueError(f"Table has lengths for '{k}' but no such field")
            t = self.fields[k]
            if t.dim() < 2 or ln.shape != t.shape[:1]:
                raise ValueError(f"variable-length field '{k}' has shape {tuple(t.shape)} "
                                 f"and lengths {tuple(ln.shape)}")
            if len(ln) and (int(ln.min()) < 1 or int(ln.max()) > t.shape[1]):
                raise ValueError(f"lengths of '{k}' must lie in 1..{t.shape[1]}")
