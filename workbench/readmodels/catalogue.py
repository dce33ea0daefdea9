"""The failure catalogue's words for a code, as the screens and the notebooks show them."""
from __future__ import annotations

import pandas as pd

from workbench.errors import CATALOGUE


def remedy_lines(code: str | None) -> tuple[str, str, str]:
    """(title, cause, remedy) from the failure catalogue, blanks for an unknown code."""
    failure = CATALOGUE.get(code or "")
    if failure is None:
        return ("", "", "")
    return (failure.title, failure.cause, failure.remedy)


def with_catalogue(df: pd.DataFrame, code_column: str, *, cause: bool = False) -> pd.DataFrame:
    """Add the catalogue's title (and cause) and remedy for the codes in ``code_column``."""
    def pick(attr: str) -> list[str | None]:
        return [getattr(CATALOGUE[c], attr) if isinstance(c, str) and c in CATALOGUE else None
                for c in df[code_column]]
    df["title"] = pick("title")
    if cause:
        df["cause"] = pick("cause")
    df["remedy"] = pick("remedy")
    return df
