"""What the data and model layers share about labels: the id of positions without a label, and the tag-scheme
names (one function turns any accepted spelling into the canonical name, for every layer)."""

from __future__ import annotations

from typing import Literal

IGNORE_INDEX = -100  # padding (and anything else without a gold tag) in a labels tensor; losses skip it

SCHEMES = ("BIO", "IOB1", "BIOES", "BMES")
Scheme = Literal["BIO", "IOB1", "BIOES", "BMES"]
_ALIASES = {"IOB2": "BIO", "IOBES": "BIOES", "BILOU": "BIOES"}


def normalize_scheme(scheme: str) -> Scheme:
    """Return the canonical scheme name (any case; ``IOB2`` -> ``BIO``, ``IOBES``/``BILOU`` -> ``BIOES``).

    Raises:
        ValueError: for an unknown scheme name.
    """
    name = _ALIASES.get(scheme.upper(), scheme.upper())
    if name not in SCHEMES:
        raise ValueError(f"unknown tag scheme {scheme!r}; expected one of {', '.join(SCHEMES)}")
    return name  # type: ignore[return-value]
