"""Rank 100,000 candidates against 2,000 incidents, 200 activity areas and 500 addresses.

Run: ``OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 python
benchmarks/bench_rank.py`` (numbers go in benchmarks/README.md). The script reports the process
CPU time over wall time of the safeplan runs: at most 1.0x means one core did all the work.
``SAFEPLAN_BENCH_CPU=N`` pins the process to CPU N as well (on a shared machine that can be
slower: the scheduler can no longer move it to an idle core).

Timing: the first run in the process is shown on its own (it loads libraries and grows the
heap); then ``SAFEPLAN_BENCH_RUNS`` (7) runs of each way, reported as best, median and range,
and the ratio of the two ways from the same run.

A synthetic case over Greater Manchester (60 x 45 km): activity areas are irregular polygons
(30 to 60 vertices, 0.3 to 3 km2) clustered in the urban core like real ones, incidents
cluster around them with a scatter elsewhere, linked addresses are spread over the north of
the city, and candidates are spread over the whole county. Two ways, same inputs:

- safeplan: :func:`geo.rank.assess` + :func:`geo.rank.rank` (distances, threat kernel,
  exclusions, nearest threat, school and support, reasons for every row).
- plain geopandas: what the same analysis looks like with the usual tools, per layer:
  ``sjoin_nearest`` for the nearest source, ``sjoin(predicate="dwithin")`` plus ``distance``
  for the kernel and the exclusions, ``groupby`` to sum. No reasons are written in this
  version, so it does less work than safeplan.
"""

from __future__ import annotations

import datetime as dt
import os
import resource
import statistics
import time
import tracemalloc

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import shapely

from geo.model import Case, validate_case
from geo.rank import assess, kernel, rank
from geo.settings import Policy
from geo.sources import household, threat_sources

AS_OF = dt.datetime(2026, 11, 25)
BOX = (355_000.0, 380_000.0, 415_000.0, 425_000.0)
CORE = (384_000.0, 398_000.0)


def synthetic_case(n_candidates=100_000, n_incidents=2_000, n_areas=200, n_addresses=500,
                   seed=3) -> Case:
    rng = np.random.default_rng(seed)
    # activity areas: irregular star-shaped polygons clustered around the urban core
    centres = rng.normal(CORE, 6_000, (n_areas, 2))
    polys = []
    for cx, cy in centres:
        k = int(rng.integers(30, 61))
        angles = np.sort(rng.uniform(0, 2 * np.pi, k))
        radius = rng.uniform(300, 1000) * rng.uniform(0.6, 1.0, k)
        polys.append(shapely.Polygon(np.column_stack(
            [cx + radius * np.cos(angles), cy + radius * np.sin(angles)])))
    groups = np.where(rng.random(n_areas) < 0.5, "GA", "GB")
    areas = gpd.GeoDataFrame({
        "area_id": [f"AR{i}" for i in range(n_areas)], "group_id": groups,
        "kind": rng.choice(["territory", "drug_market", "frequent_presence"], n_areas),
        "confidence": rng.choice(["low", "medium", "high"], n_areas)},
        geometry=polys, crs=27700)
    # incidents: 70% near areas, 30% anywhere
    near = rng.integers(0, n_areas, int(n_incidents * 0.7))
    xy = np.vstack([centres[near] + rng.normal(0, 600, (len(near), 2)),
                    np.column_stack([rng.uniform(BOX[0], BOX[2], n_incidents - len(near)),
                                     rng.uniform(BOX[1], BOX[3], n_incidents - len(near))])])
    days = rng.integers(0, 900, n_incidents)
    incidents = gpd.GeoDataFrame({
        "incident_id": [f"I{i}" for i in range(n_incidents)],
        "occurred_at": [(AS_OF - dt.timedelta(days=int(d))).strftime("%Y-%m-%d") for d in days],
        "kind": rng.choice(["shooting", "firearm_discharge", "stabbing", "assault", "threat",
                            "other"], n_incidents, p=[0.05, 0.05, 0.1, 0.4, 0.2, 0.2]),
        "group_id": rng.choice(["GA", "GB", None], n_incidents),
        "confidence": rng.choice(["low", "medium", "high"], n_incidents)},
        geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=27700)
    axy = rng.normal((CORE[0], CORE[1] + 5_000), 4_000, (n_addresses, 2))
    addresses = gpd.GeoDataFrame({
        "address_id": [f"A{i}" for i in range(n_addresses)],
        "label": [f"Address {i}" for i in range(n_addresses)],
        "kind": ["home", "former_home"] + ["family"] * (n_addresses - 4) + ["school",
                                                                           "support"],
        "known_to_rivals": [True] * (n_addresses - 2) + [False, False]},
        geometry=gpd.points_from_xy(axy[:, 0], axy[:, 1]), crs=27700)
    people = pd.DataFrame({"person_id": ["S", "P", "C", "R"],
                           "label": ["Subject", "Partner", "Child", "Rival"],
                           "role": ["subject", "partner", "child", "rival"],
                           "group_id": ["GA", None, None, "GB"]})
    links = pd.DataFrame({
        "person_id": ["S", "S", "C", "P"] + ["P"] * (n_addresses - 4),
        "address_id": ["A0", "A1", f"A{n_addresses - 2}", f"A{n_addresses - 1}"]
        + [f"A{i}" for i in range(2, n_addresses - 2)],
        "relation": ["resides", "resided", "attends", "supports"]
        + ["frequents"] * (n_addresses - 4)})
    candidates = gpd.GeoDataFrame({
        "candidate_id": [f"C{i:06d}" for i in range(n_candidates)],
        "label": [f"Vacancy {i}" for i in range(n_candidates)]},
        geometry=gpd.points_from_xy(rng.uniform(BOX[0], BOX[2], n_candidates),
                                    rng.uniform(BOX[1], BOX[3], n_candidates)), crs=27700)
    layers = {
        "case": pd.DataFrame({"case_ref": ["BENCH"]}),
        "groups": pd.DataFrame({"group_id": ["GA", "GB"], "name": ["Alpha", "Bravo"]}),
        "people": people, "activity_areas": areas, "incidents": incidents,
        "addresses": addresses, "links": links, "candidates": candidates,
    }
    return validate_case(layers, now=AS_OF).raise_if_fatal()


def plain_geopandas(candidates: gpd.GeoDataFrame, sources: gpd.GeoDataFrame) -> pd.DataFrame:
    """The usual way: sjoin per source kind, distance per pair, groupby to aggregate."""
    out = pd.DataFrame(index=candidates.index)
    threat = pd.Series(0.0, index=candidates.index)
    excluded = pd.Series(False, index=candidates.index)
    nearest = []
    for _kind, part in sources.groupby("kind"):
        part = part.reset_index(drop=True)
        reach = float(max(part["bandwidth_m"].max(), part["exclude_m"].max()))
        joined = gpd.sjoin(candidates, part, predicate="dwithin", distance=reach)
        d = joined.geometry.distance(part.geometry.iloc[joined["index_right"]].set_axis(
            joined.index), align=False)
        u = d / joined["bandwidth_m"]
        threat = threat.add(
            (joined["strength"] * np.where(u < 1, (1 - u**2) ** 2, 0)).groupby(level=0).sum(),
            fill_value=0.0)
        hit = (joined["exclude_m"] > 0) & (d <= joined["exclude_m"])
        excluded |= hit.groupby(level=0).any().reindex(candidates.index, fill_value=False)
        nn = gpd.sjoin_nearest(candidates, part, distance_col="d")
        nearest.append(nn["d"].groupby(level=0).min())
    out["threat"] = threat
    out["excluded"] = excluded
    out["nearest_m"] = pd.concat(nearest, axis=1).min(axis=1)
    return out.sort_values(["excluded", "threat"])


def one_core() -> str:
    """Pin the process to one CPU if ``SAFEPLAN_BENCH_CPU`` says which; say how it runs."""
    choice = os.environ.get("SAFEPLAN_BENCH_CPU", "")
    threads = ", ".join(f"{v}={os.environ.get(v, 'unset')}" for v in (
        "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"))
    if not choice or not hasattr(os, "sched_setaffinity"):
        return threads
    os.sched_setaffinity(0, {int(choice)})
    return f"pinned to CPU {choice}; {threads}"


def spread(times: list[float]) -> str:
    return (f"best {min(times):.3f} s, median {statistics.median(times):.3f} s, "
            f"range {min(times):.3f}-{max(times):.3f} s over {len(times)} runs")


def main() -> None:
    pinned = one_core()
    runs = int(os.environ.get("SAFEPLAN_BENCH_RUNS", "7"))
    case = synthetic_case()
    policy = Policy.default()
    sources = threat_sources(case, policy, as_of=AS_OF)
    members = household(case, ["P", "C"])
    cands = case["candidates"]
    print(f"rank {len(cands):,} candidates against {len(case['incidents']):,} incidents, "
          f"{len(case['activity_areas'])} activity areas, {len(case['addresses'])} addresses "
          f"({len(sources):,} threat sources); {pinned}")

    cpu_per_wall = []

    def safeplan():
        start, cpu = time.perf_counter(), time.process_time()
        a = assess(cands, sources, members, policy)
        mid = time.perf_counter()
        ranked = rank(a)
        end = time.perf_counter()
        cpu_per_wall.append((time.process_time() - cpu) / (end - start))
        return end - start, mid - start, ranked, a

    cold, *_ = safeplan()
    timings = []
    for _ in range(runs):
        total, part_assess, ranked, a = safeplan()
        timings.append((total, part_assess))
        del ranked, a  # as a caller would: the last result is gone before the next
    totals = [t for t, _ in timings]
    total, part_assess = min(timings)
    ranked, a = safeplan()[2:]
    tracemalloc.start()
    rank(assess(cands, sources, members, policy))
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    arrow_peak = pa.default_memory_pool().max_memory() / 2**20
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10
    reranks = []
    for _ in range(3):
        start = time.perf_counter()
        rank(a, weights={"threat": 1.0, "school": 0.1, "support": 0.1})
        reranks.append(time.perf_counter() - start)

    plain_times = []
    for _ in range(max(3, runs // 2)):
        start = time.perf_counter()
        plain = plain_geopandas(cands, sources)
        plain_times.append(time.perf_counter() - start)
    # same answers
    mine = ranked.set_index("candidate_id").loc[cands["candidate_id"]]
    agree_threat = np.allclose(mine["threat_score"].to_numpy(),
                               np.round(plain["threat"].reindex(cands.index).fillna(0), 3),
                               atol=1e-3)
    agree_near = np.nanmax(np.abs(mine["nearest_threat_m"].to_numpy()
                                  - plain["nearest_m"].reindex(cands.index).to_numpy()))
    print(f"  safeplan assess + rank (with reasons):  {total:6.3f} s  "
          f"(assess {part_assess:.3f} s, rank {total - part_assess:.3f} s in the best run)")
    print(f"      {spread(totals)}; first run in the process {cold:.3f} s; "
          f"CPU time / wall time at most {max(cpu_per_wall):.2f}x")
    print(f"      memory: {peak:.0f} MiB at the peak of one run (numpy and Python, traced); "
          f"Arrow pool peak {arrow_peak:.0f} MiB and process peak RSS {rss:,.0f} MiB, both "
          f"for the whole process so far (case, libraries, {runs + 2} runs)")
    print(f"  safeplan re-rank with new weights:      {min(reranks):6.3f} s  (best of 3)")
    print(f"  plain geopandas (no reasons):           {min(plain_times):6.3f} s  "
          f"({min(plain_times) / total:.1f}x safeplan, best to best; "
          f"{statistics.median(plain_times) / statistics.median(totals):.1f}x median to median)")
    print(f"      {spread(plain_times)}")
    print(f"  same threat scores: {agree_threat}; nearest distance max difference "
          f"{agree_near:.2e} m (safeplan rounds to 0.1 m); eligible "
          f"{int(ranked['eligible'].sum()):,}")
    _ = kernel


if __name__ == "__main__":
    main()
