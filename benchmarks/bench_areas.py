"""The safe-area surface over Greater Manchester (about 1,300 km2 in 250 m cells).

Run: ``python benchmarks/bench_areas.py`` from the repository root (one core: set
``OMP_NUM_THREADS=1``; numbers go in benchmarks/README.md).

The synthetic case of ``bench_rank.py`` (2,000 incidents, 200 activity areas, 500 linked
addresses over Greater Manchester) and, as the study region, the ten Greater Manchester
local authorities from ``../shared/data`` (1,276 km2; a 36 x 36 km square around the city
centre when that folder is absent). Three ways, same inputs:

- safeplan: :func:`geo.areas.grid_surface` (the grid, threat sources, household, then
  :func:`geo.rank.assess` and :func:`geo.rank.judge` on every cell centre: exact distances,
  threat kernel, exclusions, zones, nearest threat, school run and support), then
  :func:`geo.areas.areas_from_surface` (merge, cut out zones, name by postcode sector, reasons).
- plain geopandas, vectorised per layer: the cell centres through ``sjoin(dwithin)``,
  ``distance`` and ``groupby`` per source kind, and ``sjoin_nearest`` (as in
  ``bench_rank.py``); no school, support or zones, so it does less than safeplan.
- plain geopandas, per cell: a loop over cells, each measuring ``GeoSeries.distance`` to
  every source (the obvious first version); timed on a sample and scaled to all cells.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

from geo.areas import areas_from_surface, grid_surface
from geo.settings import Policy

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_rank import AS_OF, CORE, plain_geopandas, synthetic_case

GM = Path(__file__).resolve().parents[2] / "shared" / "data" / "boundaries" / (
    "gm_local_authority_2023_generalised.geojson")
SAMPLE = 400


def region() -> tuple[gpd.GeoDataFrame, str]:
    if GM.exists():
        gm = gpd.read_file(GM).to_crs(27700)
        return gpd.GeoDataFrame({"name": ["Greater Manchester"]},
                                geometry=[gm.union_all()], crs=27700), "Greater Manchester"
    box = shapely.box(CORE[0] - 18_000, CORE[1] - 18_000, CORE[0] + 18_000, CORE[1] + 18_000)
    return gpd.GeoDataFrame({"name": ["square"]}, geometry=[box], crs=27700), "a 36 km square"


def per_cell(points: gpd.GeoSeries, sources: gpd.GeoDataFrame) -> np.ndarray:
    """Threat and exclusion cell by cell: one ``GeoSeries.distance`` call per cell."""
    strength = sources["strength"].to_numpy()
    bandwidth = sources["bandwidth_m"].to_numpy()
    exclude = sources["exclude_m"].to_numpy()
    out = np.zeros(len(points))
    for i, point in enumerate(points):
        d = sources.geometry.distance(point).to_numpy()
        u = d / bandwidth
        out[i] = (strength * np.where(u < 1, (1 - u**2) ** 2, 0)).sum()
        _ = ((exclude > 0) & (d <= exclude)).any()
    return out


def main() -> None:
    case = synthetic_case(n_candidates=10)
    policy = Policy.default()
    within, where = region()
    km2 = within.geometry.area.sum() / 1e6

    timings = []
    for _ in range(3):
        start = time.perf_counter()
        surface = grid_surface(case, policy, person_ids=["P", "C"], within=within, as_of=AS_OF)
        mid = time.perf_counter()
        found = areas_from_surface(surface)
        end = time.perf_counter()
        timings.append((mid - start, end - mid))
    surface_s = min(t[0] for t in timings)
    areas_s = min(t[1] for t in timings)
    n = len(surface.row)
    a = surface.assessment
    print(f"safe-area surface over {where} ({km2:,.0f} km2): {n:,} cells of "
          f"{surface.cell_m:g} m against {len(a.sources):,} threat sources")

    cells = a.candidates
    start = time.perf_counter()
    plain = plain_geopandas(cells, a.sources)
    plain_s = time.perf_counter() - start

    rng = np.random.default_rng(1)
    pick = np.sort(rng.choice(n, SAMPLE, replace=False))
    start = time.perf_counter()
    loop_threat = per_cell(cells.geometry.iloc[pick], a.sources)
    loop_s = (time.perf_counter() - start) * n / SAMPLE

    same_threat = np.allclose(plain["threat"].reindex(cells.index).fillna(0).to_numpy(),
                              a.threat, atol=1e-9)
    same_loop = np.allclose(loop_threat, a.threat[pick], atol=1e-9)
    excluded = plain["excluded"].reindex(cells.index).to_numpy()
    own = np.bincount(a.violations.point, minlength=n) > 0
    print(f"  safeplan surface (grid + assess + judge):  {surface_s:6.3f} s")
    print(f"  safeplan areas from it (merge, name, why):  {areas_s:6.3f} s  "
          f"({len(found)} areas; whole run {surface_s + areas_s:.3f} s)")
    print(f"  plain geopandas, vectorised per layer:      {plain_s:6.3f} s  "
          f"({plain_s / surface_s:.1f}x the safeplan surface; threat and exclusion only)")
    print(f"  plain geopandas, cell by cell (scaled from {SAMPLE}): {loop_s:6.1f} s  "
          f"({loop_s / surface_s:.0f}x the safeplan surface)")
    print(f"  same threat scores: {same_threat} (vectorised), {same_loop} (cell by cell); "
          f"same exclusions: {bool((excluded == own).all())}; eligible cells "
          f"{int(surface.judgement.eligible.sum()):,}")

    # the demo case, whose areas are named from real postcode sectors
    from geo.demo import AS_OF as DEMO_AS_OF
    from geo.demo import build_demo_case

    demo = build_demo_case()
    runs = []
    for _ in range(3):
        start = time.perf_counter()
        demo_surface = grid_surface(demo, policy, within=within, as_of=DEMO_AS_OF)
        mid = time.perf_counter()
        demo_areas = areas_from_surface(demo_surface)
        runs.append((mid - start, time.perf_counter() - mid))
    print(f"demo case over {where}: {len(demo_surface.row):,} cells; surface "
          f"{min(r[0] for r in runs):.3f} s, {len(demo_areas)} named areas "
          f"{min(r[1] for r in runs):.3f} s")


if __name__ == "__main__":
    main()
