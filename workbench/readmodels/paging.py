"""One SELECT shown a page at a time: LIMIT/OFFSET plus a count, so a 100,000-row table costs one page."""
from __future__ import annotations

from dataclasses import dataclass

from workbench.store import Store


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    width: int | None = None


@dataclass(frozen=True)
class Page:
    offset: int
    total: int
    rows: list[tuple]        # first value of each row is its stable key


@dataclass(frozen=True)
class PageSource:
    """One SELECT (without ORDER BY/LIMIT) shown a page at a time.

    ``select`` must return ``key`` first and then the columns in order.
    """
    select: str
    columns: tuple[Column, ...]
    order_by: str
    params: tuple = ()

    def count(self, store: Store) -> int:
        return int(store.scalar(f"SELECT count(*) FROM ({self.select}) q", list(self.params)) or 0)

    def page(self, store: Store, offset: int, limit: int) -> Page:
        with store.read() as con:
            total = con.execute(f"SELECT count(*) FROM ({self.select}) q", list(self.params)).fetchone()[0]
            offset = max(0, min(offset, max(0, (total - 1) // limit * limit)))
            rows = con.execute(f"SELECT * FROM ({self.select}) q ORDER BY {self.order_by} LIMIT ? OFFSET ?",
                               [*self.params, limit, offset]).fetchall()
        return Page(offset, int(total), rows)
