"""Building sentences for many rows at once (private helpers).

Reasons are written for every candidate, and with a hundred thousand of them Python string
operations dominate the run time. These helpers build columns of text with Arrow's compute
kernels (C++), which join, choose and format whole columns in one call each.

Every function takes "parts": Python strings (the same for every row), numpy arrays or Arrow
arrays, and returns an Arrow string array.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

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


def integer(values) -> pa.Array:
    """Whole numbers as text."""
    return pc.cast(pa.array(np.asarray(values, dtype=np.int64)), pa.string())


def decimal(values, places: int) -> pa.Array:
    """Non-negative numbers rounded to 1 or 2 decimal places, as text (``1.46``)."""
    v = np.asarray(values, float)
    scaled = np.round(np.where(np.isfinite(v), v, 0.0) * 10**places).astype(np.int64)
    whole = integer(scaled // 10**places)
    frac = take(_TWO_DIGITS, scaled % 100) if places == 2 else integer(scaled % 10)
    return pc.binary_join_element_wise(whole, pa.scalar("."), frac, "")


_DISTANCE_FRACTIONS = pa.array([f".{i:02d}" for i in range(100)]
                                + [f".{i}" for i in range(10)] + [""])
_UNITS = pa.array([" m", " km"])


def distance(d_m) -> pa.Array:
    """``420 m`` (to 10 m) below 1 km, ``1.46 km`` below 10 km, ``23.6 km`` beyond."""
    d = np.asarray(d_m, float)
    d = np.where(np.isfinite(d), d, 0.0)  # rows without a distance say nothing of it
    small = d < 1000
    mid = ~small & (d < 10_000)
    centi = np.round(d / 10.0).astype(np.int64)  # tens of metres = hundredths of a km
    deci = np.round(d / 100.0).astype(np.int64)  # tenths of a km
    whole = np.where(small, centi * 10, np.where(mid, centi // 100, deci // 10))
    frac = np.where(small, 110, np.where(mid, centi % 100, 100 + deci % 10))
    return pc.binary_join_element_wise(integer(whole), take(_DISTANCE_FRACTIONS, frac),
                                       take(_UNITS, (~small).astype(np.int64)), "")


def join_nonempty(parts: list, sep: str, *, n: int) -> pa.Array:
    """Join columns with ``sep``, leaving out empty strings."""
    out = _arrow(parts[0], n)
    if isinstance(out, pa.Scalar):
        out = pa.array([out.as_py()] * n, type=pa.string())
    for part in parts[1:]:
        part = _arrow(part, n)
        if isinstance(part, pa.Scalar):
            part = pa.array([part.as_py()] * n, type=pa.string())
        both = pc.and_(pc.not_equal(out, ""), pc.not_equal(part, ""))
        glue = pc.if_else(both, pa.scalar(sep), pa.scalar(""))
        out = pc.binary_join_element_wise(out, glue, part, "")
    return out
