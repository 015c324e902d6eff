"""Multi-agent game families over batched rule kernels, and their opponent populations.

Entry points: :func:`make` (a PettingZoo env), :func:`make_kernel` (B games at
once), :func:`parse_spec`, :func:`list_families`, :func:`make_opponent`.
"""

from games.errors import GameError, IllegalActionError, SpecError, UnknownOpponentError
from games.kernel import BatchKernel, Step
from games.registry import (
    Family,
    Param,
    Split,
    best_response_value,
    equilibrium_value,
    get_family,
    get_split,
    list_families,
    list_opponents,
    make,
    make_kernel,
    make_opponent,
    parse_spec,
)
from games.spec import GameSpec

__all__ = [
    "BatchKernel",
    "Family",
    "GameError",
    "GameSpec",
    "IllegalActionError",
    "Param",
    "SpecError",
    "Split",
    "Step",
    "UnknownOpponentError",
    "best_response_value",
    "equilibrium_value",
    "get_family",
    "get_split",
    "list_families",
    "list_opponents",
    "make",
    "make_kernel",
    "make_opponent",
    "parse_spec",
]
