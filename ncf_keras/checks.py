"""Checks of arguments, each raising `ArgumentError` naming the Python argument.

Keras-free. The CLI turns the argument's name into its flag.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

from ncf_keras.errors import ArgumentError


def check_choice(argument: str, value: str, choices: Sequence[str]) -> str:
    """`value` if it is one of `choices`, else an ArgumentError listing them."""
    if value not in choices:
        raise ArgumentError(argument, f"must be one of {', '.join(choices)}, got {value!r}")
    return value


def check_at_least(argument: str, value: int, low: int) -> int:
    """`value` if it is an integer >= `low`, else an ArgumentError."""
    if value < low:
        raise ArgumentError(argument, f"must be >= {low}, got {value}")
    return value


def check_number(argument: str, value: float, low: float = 0, strict: bool = False) -> float:
    """`value` if it is finite and >= `low` (> `low` when `strict`), else an ArgumentError."""
    if not math.isfinite(value):
        raise ArgumentError(argument, f"must be a finite number, got {value}")
    if value < low or (strict and value == low):
        raise ArgumentError(argument, f"must be {'>' if strict else '>='} {low}, got {value}")
    return value


def check_fraction(argument: str, value: float) -> float:
    """`value` if it lies in [0, 1], else an ArgumentError."""
    if not 0.0 <= value <= 1.0:
        raise ArgumentError(argument, f"must be between 0 and 1, got {value}")
    return value


def check_layers(layers: Sequence[int]) -> list[int]:
    """MLP sizes: at least two, all positive, the first even (two embeddings side by side)."""
    layers = list(layers)
    if len(layers) < 2 or layers[0] % 2 or min(layers) < 1:
        raise ArgumentError(
            "layers",
            f"{','.join(map(str, layers))}: need at least two sizes, all positive, "
            "the first even (it is the user and item embeddings side by side)",
        )
    return layers


def available_memory() -> int | None:
    """Bytes of memory this machine can still give (Linux's MemAvailable), or None if unknown."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(argument: str, needed: int, what: str) -> None:
    """An ArgumentError, before anything is allocated, if `needed` bytes exceed what is available.

    Args:
        argument: the argument that sets the size, named in the error.
        needed: the estimated bytes.
        what: what the bytes are for, e.g. "one epoch's 4,970,845 training rows".
    """
    available = available_memory()
    if available is not None and needed > available:
        raise ArgumentError(
            argument,
            f"is too large: {what} need about {needed / 2**30:,.1f} GiB of memory, "
            f"and {available / 2**30:,.1f} GiB are available",
        )
