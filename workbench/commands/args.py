"""Argument types for options: numbers in ASCII digits with a range, as the settings read them.

argparse's ``type=int`` / ``type=float`` accept '５', '٣', '1_0', 'nan' and '-1'; these refuse them,
so a bad option ends as argparse's usage error (exit 2), never as a failed operation.
"""
from __future__ import annotations

import argparse
import re
from typing import Callable

from workbench.settings import excerpt, whole_number

MAX_SECONDS = 86_400.0


def count(lo: int = 0) -> Callable[[str], int]:
    """A whole number >= ``lo`` in ASCII digits."""
    def parse(text: str) -> int:
        value = whole_number(text)
        if value is None or value < lo:
            raise argparse.ArgumentTypeError(f"{excerpt(text)}: must be a whole number >= {lo} in digits 0-9")
        return value
    return parse


def seconds(text: str) -> float:
    """A duration in seconds, more than 0 and at most a day (digits 0-9 and one optional '.')."""
    if re.fullmatch(r"[0-9]{1,6}(?:\.[0-9]{1,6})?", text.strip()) and 0 < float(text) <= MAX_SECONDS:
        return float(text)
    raise argparse.ArgumentTypeError(f"{excerpt(text)}: must be seconds, more than 0 and at most {MAX_SECONDS:.0f}")
