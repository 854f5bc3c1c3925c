"""One batch of a read file: well-formed rows as strings, their source lines, and the rows that could not be parsed."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from cdp.clean.table import Rejection


@dataclass(frozen=True)
class RawRows:
    """Every well-formed row as strings, the source line of each, and the malformed rows already rejected."""

    table: pa.Table
    lines: pa.Array
    malformed: list[Rejection]

    @property
    def rows_in(self) -> int:
        return self.table.num_rows + len(self.malformed)
