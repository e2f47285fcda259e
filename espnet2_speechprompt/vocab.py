"""fairseq ``Dictionary``: ``<s> <pad> </s> <unk>`` then the lines of ``dict.txt`` in order.

Never assume ``index = unit + 4``: hubert100's file is in numeric order, cpc100's in frequency
order, and files made by ``fairseq-preprocess`` may end with ``madeupwordNNNN`` padding.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from .errors import CheckpointError

SPECIAL_SYMBOLS = ("<s>", "<pad>", "</s>", "<unk>")
BOS, PAD, EOS, UNK = 0, 1, 2, 3
NUM_SPECIALS = 4
MASK_SYMBOL = "<mask>"  # mBART dictionaries end with it
MASK_UNIT = -1  # a masked unit in a units file (speech inpainting sources)


class Dictionary:
    def __init__(self, symbols: Iterable[str] = (), counts: Iterable[int] | None = None):
        self.symbols = list(SPECIAL_SYMBOLS)
        self.counts = [1] * NUM_SPECIALS
        self._index = {s: i for i, s in enumerate(self.symbols)}
        counts = list(counts) if counts is not None else None
        for i, symbol in enumerate(symbols):
            self.add(symbol, 1 if counts is None else counts[i])

    def add(self, symbol: str, count: int = 1, overwrite: bool = False) -> int:
        if symbol in self._index and not overwrite:
            raise CheckpointError(f"duplicate symbol {symbol!r} in dictionary")
        if symbol in self._index:
            index = self._index[symbol]
            self.counts[index] = count
            return index
        self._index[symbol] = len(self.symbols)
        self.symbols.append(symbol)
        self.counts.append(count)
        return self._index[symbol]

    @classmethod
    def load(cls, path: str | os.PathLike) -> Dictionary:
        """Parse ``SYMBOL COUNT [#fairseq:overwrite]`` lines, naming the line of any error."""
        path = os.fspath(path)
        if not os.path.isfile(path):
            raise CheckpointError(f"{path}: no such dictionary file (dict.txt)")
        d = cls()
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                line = line.rstrip("\n")
                if not line.strip():
                    continue
                fields = line.rsplit(" ", 1)
                overwrite = fields[-1] == "#fairseq:overwrite"
                if overwrite:
                    fields = fields[0].rsplit(" ", 1)
                if len(fields) != 2 or not fields[1].lstrip("-").isdigit():
                    raise CheckpointError(f"{path}:{number}: expected 'SYMBOL COUNT', got {line!r}")
                try:
                    d.add(fields[0], int(fields[1]), overwrite)
                except CheckpointError as exc:
                    raise CheckpointError(
                        f"{path}:{number}: {exc} (add '#fairseq:overwrite' to allow it)"
                    ) from None
        return d

    def save(self, path: str | os.PathLike) -> None:
        with open(path, "w", encoding="utf-8") as f:
            for symbol, count in zip(
                self.symbols[NUM_SPECIALS:], self.counts[NUM_SPECIALS:], strict=True
            ):
                f.write(f"{symbol} {count}\n")

    def __len__(self) -> int:
        return len(self.symbols)

    def __contains__(self, symbol: str) -> bool:
        return symbol in self._index

    def index(self, symbol: str) -> int:
        return self._index.get(symbol, UNK)

    def symbol(self, index: int) -> str:
        return self.symbols[index]

    def unit_indices(self) -> list[int]:
        """Indices of real unit symbols (no specials, no ``madeupword`` padding)."""
        return [
            i
            for i, s in enumerate(self.symbols)
            if i >= NUM_SPECIALS and not s.startswith("madeupword")
        ]

    def encode(self, units: Iterable[str | int], what: str = "sequence") -> list[int]:
        """Unit symbols to indices; an unknown unit is an error naming ``what``."""
        out = []
        for unit in units:
            index = self._index.get(str(unit))
            if index is None or index < NUM_SPECIALS:
                raise CheckpointError(
                    f"{what}: unit {unit!r} is not in the backbone dictionary "
                    f"({len(self) - NUM_SPECIALS} symbols)"
                )
            out.append(index)
        return out
