"""Geocode 100,000 postcodes offline: safeplan's vectorised lookup against two plain ways.

Run: ``python benchmarks/bench_geocode.py`` (numbers go in benchmarks/README.md).

- safeplan: :func:`geo.geocode.lookup_postcodes` (normalise with pandas string methods,
  one reindex against the areas needed, one pyproj call for all points).
- pandas merge: the same data read whole, ``merge`` on a normalised column, pyproj on all.
- per row: a Python loop doing what a quick script does (normalise, dict lookup, transform).
"""

from __future__ import annotations

import re
import time
import tracemalloc

import numpy as np
import pandas as pd
from pyproj import Transformer

from geo import geocode
from geo.geocode import _area_table, lookup_postcodes

N = 100_000


def sample_postcodes(n: int, seed: int = 7) -> list[str]:
    rng = np.random.default_rng(seed)
    table = pd.concat([_area_table(a) for a in ("M", "OL", "BL", "SK", "WN", "WA")])
    pcs = table.index.to_numpy()[rng.integers(0, len(table), n)]
    # users type postcodes in every way: lower case, no space, extra spaces
    styles = rng.integers(0, 3, n)
    out = [p.lower().replace(" ", "") if s == 1 else f"  {p} " if s == 2 else p
           for p, s in zip(pcs, styles, strict=True)]
    for i in rng.integers(0, n, n // 100):  # 1% rubbish
        out[i] = "NOT A POSTCODE"
    return out


def plain_merge(values: list[str]) -> pd.DataFrame:
    table = pd.concat([_area_table(a) for a in ("M", "OL", "BL", "SK", "WN", "WA")])
    frame = pd.DataFrame({"raw": values})
    frame["postcode"] = frame["raw"].str.upper().str.replace(" ", "")
    frame["postcode"] = frame["postcode"].str[:-3] + " " + frame["postcode"].str[-3:]
    merged = frame.merge(table, left_on="postcode", right_index=True, how="left")
    t = Transformer.from_crs(27700, 4326, always_xy=True)
    merged["lon"], merged["lat"] = t.transform(merged["easting"], merged["northing"])
    return merged


def per_row(values: list[str]) -> list[tuple[float, float] | None]:
    table = pd.concat([_area_table(a) for a in ("M", "OL", "BL", "SK", "WN", "WA")])
    lookup = dict(zip(table.index, zip(table.easting, table.northing, strict=True), strict=True))
    t = Transformer.from_crs(27700, 4326, always_xy=True)
    out = []
    for v in values:
        compact = re.sub(r"\s+", "", v).upper()
        key = f"{compact[:-3]} {compact[-3:]}"
        hit = lookup.get(key)
        out.append(t.transform(*hit) if hit else None)
    return out


def timed(fn, *args, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn(*args)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    values = sample_postcodes(N)
    # cold: the areas are read from the gzip CSVs on first use
    geocode._area_table.cache_clear()
    start = time.perf_counter()
    result = lookup_postcodes(values)
    cold = time.perf_counter() - start
    assert (result["status"] == "ok").mean() > 0.98
    warm = timed(lookup_postcodes, values)
    tracemalloc.start()
    lookup_postcodes(values)
    peak = tracemalloc.get_traced_memory()[1] / 1_048_576
    tracemalloc.stop()
    merge = timed(plain_merge, values)
    loop = timed(per_row, values, repeat=1)
    print(f"geocode {N:,} postcodes (Greater Manchester, mixed styles, 1% malformed)")
    print(f"  safeplan lookup_postcodes, cold (reads 6 areas): {cold:7.3f} s")
    print(f"  safeplan lookup_postcodes, warm:                  {warm:7.3f} s"
          f"   peak {peak:.0f} MiB")
    print(f"  plain pandas merge, warm:                         {merge:7.3f} s"
          f"   ({merge / warm:.1f}x safeplan)")
    print(f"  per-row Python loop, warm:                        {loop:7.3f} s"
          f"   ({loop / warm:.1f}x safeplan)")


if __name__ == "__main__":
    main()
