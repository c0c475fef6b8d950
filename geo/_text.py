"""Building sentences for many rows at once (private helpers).

Reasons are written for every candidate, and with a hundred thousand of them Python string
operations dominate the run time. These helpers build columns of text with Arrow's compute
kernels (C++), which join, choose and format whole columns in one call each.

Most of a sentence takes few distinct values (a distance to 10 m, a score to 0.01, a source's
label), so :func:`lookup` writes each distinct piece once and copies it to its rows with one
``take``; a sentence is then one :func:`concat` of such pieces. Arrow's element-wise join costs
about as much per piece and row as a ``take`` costs per row, so fewer, longer pieces are faster.

Every function takes "parts": Python strings (the same for every row), numpy arrays or Arrow
arrays, and returns an Arrow string array.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from geo._spatial import distinct as distinct_keys

_TWO_DIGITS = pa.array([f"{i:02d}" for i in range(100)])


def _arrow(part, n: int):
    if isinstance(part, pa.Array | pa.ChunkedArray):
        return part
    if isinstance(part, str):
        return pa.scalar(part)
    array = np.asarray(part)
    if array.dtype.kind in "iu":
        return pc.cast(pa.array(array), pa.string())
    return pa.array(array.astype(object) if array.dtype.kind != "O" else array,
                    type=pa.string())


def concat(*parts, n: int) -> pa.Array:
    """Join the parts row by row (a null part makes the row null; use ``where`` first)."""
    arrays = [_arrow(p, n) for p in parts]
    if not any(isinstance(a, pa.Array | pa.ChunkedArray) for a in arrays):
        return pa.array([pc.binary_join_element_wise(*arrays, "").as_py()] * n)
    return pc.binary_join_element_wise(*arrays, "")


def where(mask, when_true, when_false, *, n: int) -> pa.Array:
    """Choose per row between two parts."""
    chosen = pc.if_else(pa.array(np.asarray(mask, dtype=bool)), _arrow(when_true, n),
                        _arrow(when_false, n))
    if isinstance(chosen, pa.Scalar):
        return pa.array([chosen.as_py()] * n, type=pa.string())
    return chosen


def take(words, index) -> pa.Array:
    """``words[index]`` for a small table of words and a column of indices."""
    table = words if isinstance(words, pa.Array) else pa.array(
        [str(w) for w in words], type=pa.string())
    return pc.take(table, pa.array(np.asarray(index, dtype=np.int64)))


def stack(*tables) -> pa.Array:
    """Tables of words one after the other (for :func:`take` with an offset per variant)."""
    return pa.concat_arrays([t if isinstance(t, pa.Array) else pa.array(
        [str(w) for w in t], type=pa.string()) for t in tables])


def lookup(keys, words: Callable[[np.ndarray], pa.Array], mask=None) -> pa.Array:
    """``words(keys)`` for every row, each distinct text written once; ``""`` outside ``mask``.

    ``words`` maps an array of distinct integer keys to their texts (an Arrow string array
    of the same length): the text must depend on the key alone.
    """
    keys = np.asarray(keys, dtype=np.int64)
    chosen = keys if mask is None else keys[np.asarray(mask, dtype=bool)]
    distinct, position = distinct_keys(chosen)
    table = words(distinct) if len(distinct) else pa.array([], type=pa.string())
    if mask is not None:
        index = np.full(len(keys), len(distinct), dtype=np.int64)
        index[np.asarray(mask, dtype=bool)] = position
        table = pa.concat_arrays([table, pa.array([""])])
        position = index
    return pc.take(table, pa.array(position))


def integer(values) -> pa.Array:
    """Whole numbers as text."""
    return pc.cast(pa.array(np.asarray(values, dtype=np.int64)), pa.string())


def decimal_key(values, places: int) -> np.ndarray:
    """The number that :func:`decimal` writes: ``values`` in units of ``10**-places``."""
    v = np.asarray(values, float)
    return np.round(np.where(np.isfinite(v), v, 0.0) * 10**places).astype(np.int64)


def decimal_words(scaled, places: int) -> pa.Array:
    """The text of :func:`decimal` from :func:`decimal_key`."""
    scaled = np.asarray(scaled, dtype=np.int64)
    whole = integer(scaled // 10**places)
    frac = take(_TWO_DIGITS, scaled % 100) if places == 2 else integer(scaled % 10)
    return pc.binary_join_element_wise(whole, pa.scalar("."), frac, "")


def decimal(values, places: int) -> pa.Array:
    """Non-negative numbers rounded to 1 or 2 decimal places, as text (``1.46``)."""
    return lookup(decimal_key(values, places), lambda k: decimal_words(k, places))


_DISTANCE_FRACTIONS = pa.array([f".{i:02d}" for i in range(100)]
                                + [f".{i}" for i in range(10)] + [""])
_UNITS = pa.array([" m", " km"])
# distance keys: tens of metres below 1 km (at most 100), then 101 + tens of metres (hundredths
# of a km) below 10 km (201 to 1101), then 1102 + hundreds of metres (1202 on)
_MID, _LARGE = 101, 1102


def distance_key(d_m) -> np.ndarray:
    """What :func:`distance` writes, as one integer per row (rows with equal keys read the
    same)."""
    d = np.asarray(d_m, float)
    d = np.where(np.isfinite(d), d, 0.0)  # rows without a distance say nothing of it
    small = d < 1000
    mid = ~small & (d < 10_000)
    centi = np.round(d / 10.0).astype(np.int64)  # tens of metres = hundredths of a km
    deci = np.round(d / 100.0).astype(np.int64)  # tenths of a km
    return np.where(small, centi, np.where(mid, _MID + centi, _LARGE + deci))


def distance_words(keys) -> pa.Array:
    """The text of :func:`distance` from :func:`distance_key`."""
    keys = np.asarray(keys, dtype=np.int64)
    small = keys < _MID
    mid = ~small & (keys < _LARGE)
    centi = np.where(small, keys, keys - _MID)
    deci = keys - _LARGE
    whole = np.where(small, centi * 10, np.where(mid, centi // 100, deci // 10))
    frac = np.where(small, 110, np.where(mid, centi % 100, 100 + deci % 10))
    return pc.binary_join_element_wise(integer(whole), take(_DISTANCE_FRACTIONS, frac),
                                       take(_UNITS, (~small).astype(np.int64)), "")


def distance(d_m, mask=None, *, before: str = "", after: str = "") -> pa.Array:
    """``420 m`` (to 10 m) below 1 km, ``1.46 km`` below 10 km, ``23.6 km`` beyond; with
    ``before`` and ``after`` around it, and ``""`` outside ``mask``."""
    return lookup(distance_key(d_m),
                  lambda k: concat(before, distance_words(k), after, n=len(k)), mask)
