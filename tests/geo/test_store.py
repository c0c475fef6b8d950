"""The case store, run on SQLite and on PostgreSQL + PostGIS with the same tests.

Lossless round trips, row edits in one transaction, no lost updates, history and undo,
archive and restore, all-or-nothing writes, and the candidate pre-filter.
"""

from __future__ import annotations

import threading

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from sqlalchemy import event, func, select, text

from geo._dbschema import changes, features
from geo.errors import ConflictError, InputError, NotFound, ValidationError
from geo.io import read_case, write_case
from geo.model import Case, validate_case
from geo.store import Changes, Store
from tests.geo.conftest import NOW
from tests.geo.test_io import assert_same_case


@pytest.fixture
def ref(store, rich_case) -> str:
    return store.create_case(rich_case, actor="alice", reason="referral")


def frame_as_file(case: Case, tmp_path, name: str) -> Case:
    """What a GeoPackage of ``case`` reads back as, validated."""
    return validate_case(read_case(write_case(case, tmp_path / name)), now=NOW).case


def label_of(store: Store, ref: str, candidate_id: str) -> str:
    candidates = store.load_case(ref).case["candidates"].set_index("candidate_id")
    return candidates.loc[candidate_id, "label"]


def count_rows(store: Store, table) -> int:
    with store.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


# ---------------------------------------------------------------------------------------------
# round trips


def test_a_gpkg_stored_and_exported_reads_back_identical(store, rich_case, tmp_path):
    imported = frame_as_file(rich_case, tmp_path, "in.gpkg")
    ref = store.create_case(imported, actor="alice")
    assert ref == "T-1"
    exported = store.export_gpkg(ref, tmp_path / "out.gpkg")
    back = validate_case(read_case(exported), now=NOW)
    assert back.ok, back.problems
    assert_same_case(imported, back.case)
    assert sorted(back.case.extra_layers) == ["analyst_notes", "contacts"]
    for name in ("analyst_notes", "contacts"):
        pd.testing.assert_frame_equal(back.case.extra_layers[name],
                                      imported.extra_layers[name])
    assert not isinstance(back.case.extra_layers["contacts"], gpd.GeoDataFrame)
    assert back.case["candidates"]["floor"].tolist() == [0, 3, 1]


def test_a_loaded_case_is_exactly_the_saved_one(store, ref, rich_case):
    loaded = store.load_case(ref)
    assert loaded.version == 1
    assert_same_case(rich_case, loaded.case)
    for name in rich_case:
        assert list(loaded.case[name].dtypes) == list(rich_case[name].dtypes), name
    assert loaded.case["incidents"].geometry.iloc[0].equals_exact(
        rich_case["incidents"].geometry.iloc[0], tolerance=0)
    assert loaded.case["zones"].geometry.iloc[0].geom_type == "MultiPolygon"
    assert loaded.case["zones"].crs.to_epsg() == 27700
    assert loaded.keys["candidates"] == ["C1", "C2", "C3"]
    assert loaded.keys["links"] == ["#0", "#1", "#2", "#3"]
    # validating what was loaded changes nothing: it is already clean
    assert_same_case(loaded.case, validate_case(loaded.case, now=NOW).case)


def test_a_case_started_from_scratch(store):
    case = Case({"case": pd.DataFrame({"case_ref": ["NEW-1"], "title": ["Fresh referral"]})})
    ref = store.create_case(case, actor="bob")
    loaded = store.load_case(ref)
    assert loaded.case.counts() == {name: (1 if name == "case" else 0) for name in case}
    assert loaded.case.classification == "OFFICIAL-SENSITIVE"
    assert loaded.case["candidates"].crs.to_epsg() == 27700
    assert_same_case(validate_case(case).case, loaded.case)
    [info] = store.list_cases()
    assert (info.ref, info.title, info.version, info.created_by) == ("NEW-1", "Fresh referral",
                                                                     1, "bob")


def test_a_reference_is_stored_once(store, ref, rich_case):
    with pytest.raises(ConflictError, match="a case T-1 is already in the database"):
        store.create_case(rich_case, actor="bob")
    assert [c.ref for c in store.list_cases()] == ["T-1"]


def test_a_bad_case_is_refused_whole(store, tiny_layers):
    tiny_layers["people"].loc[0, "role"] = "boss"
    with pytest.raises(ValidationError, match=r"people row 1 \(P1\) \[role\]: unknown value"):
        store.create_case(Case(tiny_layers), actor="alice")
    assert store.list_cases(include_archived=True) == []
    assert count_rows(store, features) == 0


def test_a_create_that_fails_half_way_leaves_nothing(store, rich_case, monkeypatch):
    real = Store._insert_layer
    calls = []

    def failing(self, conn, case_id, layer, frame):
        calls.append(layer)
        if layer == "addresses":
            raise RuntimeError("disk full")
        return real(self, conn, case_id, layer, frame)

    monkeypatch.setattr(Store, "_insert_layer", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        store.create_case(rich_case, actor="alice")
    assert calls[-1] == "addresses"
    assert "incidents" in calls  # rows had been written before it failed
    assert store.list_cases(include_archived=True) == []
    assert count_rows(store, features) == 0
    assert count_rows(store, changes) == 0
    monkeypatch.undo()
    assert store.create_case(rich_case, actor="alice") == "T-1"


# ---------------------------------------------------------------------------------------------
# edits


def test_edits_of_several_layers_are_saved_together(store, ref):
    new = gpd.GeoDataFrame({"candidate_id": ["C4"], "label": ["Top floor"], "bedrooms": ["2"]},
                           geometry=[shapely.Point(393_000, 391_000)], crs=27700)
    edits = (Changes()
             .add("candidates", new)
             .update("people", "P2", {"label": "Pat Partner-Jones", "ttl_risk": "High"})
             .update("candidates", "C2", {"geometry": shapely.Point(395_500, 390_500)})
             .delete("links", "#1"))
    version = store.save_changes(ref, edits, base_version=1, actor="bob", reason="visit")
    assert version == 2
    loaded = store.load_case(ref)
    assert loaded.version == 2
    cands = loaded.case["candidates"].set_index("candidate_id")
    assert cands.index.tolist() == ["C1", "C2", "C3", "C4"]
    assert cands.loc["C4", "bedrooms"] == 2
    assert cands["bedrooms"].dtype == "Int64"
    assert pd.isna(cands.loc["C4", "floor"])
    assert cands.loc["C2", "geometry"].equals(shapely.Point(395_500, 390_500))
    people = loaded.case["people"].set_index("person_id")
    assert people.loc["P2", "ttl_risk"] == "high"  # cleaned as the model cleans
    assert loaded.keys["links"] == ["#0", "#2", "#3"]
    [_, revision] = store.history(ref)
    assert (revision.version, revision.actor, revision.reason) == (2, "bob", "visit")
    assert revision.summary == ("candidates: 1 row added, 1 row changed; links: 1 row removed; "
                                "people: 1 row changed")


def test_a_new_row_in_a_layer_without_ids_gets_a_fresh_key(store, ref):
    store.save_changes(ref, Changes().delete("links", "#3"), base_version=1, actor="bob")
    row = pd.DataFrame({"person_id": ["P4"], "address_id": ["A3"], "relation": ["frequents"]})
    store.save_changes(ref, Changes().add("links", row), base_version=2, actor="bob")
    loaded = store.load_case(ref)
    assert loaded.keys["links"] == ["#0", "#1", "#2", "#4"]
    assert loaded.case["links"]["person_id"].tolist() == ["P1", "P2", "P3", "P4"]


def test_a_stale_save_is_refused_saying_who_changed_what(store, ref):
    alice = store.load_case(ref)
    bob = store.load_case(ref)
    store.save_changes(ref, Changes().update("candidates", "C1", {"label": "Alice's"})
                       .update("candidates", "C2", {"notes": "viewed"}),
                       base_version=alice.version, actor="alice")
    with pytest.raises(ConflictError) as info:
        store.save_changes(ref, Changes().update("candidates", "C1", {"label": "Bob's"}),
                           base_version=bob.version, actor="bob")
    message = str(info.value)
    assert message.startswith("case T-1 changed since version 1: version 2 by alice at ")
    assert "candidates: 2 rows changed" in message
    assert message.endswith("Nothing was saved: reload the case and make your edit again")
    assert label_of(store, ref, "C1") == "Alice's"
    assert store.case_info(ref).version == 2


def test_two_writers_at_once_one_wins_and_nothing_is_lost(store, store_url, ref, monkeypatch,
                                                          engine_name):
    """Alice's save holds the case's lock; Bob's save, based on the same version, waits for
    it and is then refused, whichever order the threads run in."""
    other = Store(store_url)
    alice_inside, let_alice_go, bob_waiting = (threading.Event() for _ in range(3))
    real_check = Store._check_version

    def check_then_pause(self, conn, row, base_version):
        real_check(self, conn, row, base_version)
        if threading.current_thread().name == "alice":
            alice_inside.set()
            assert let_alice_go.wait(30)

    monkeypatch.setattr(Store, "_check_version", check_then_pause)
    if engine_name == "sqlite":  # Bob is about to wait when he asks SQLite for the lock
        other.engine.dispose()
        event.listen(other.engine, "connect", lambda dbapi, _: dbapi.set_trace_callback(
            lambda sql: bob_waiting.set() if sql.startswith("BEGIN IMMEDIATE") else None))
    results: dict[str, object] = {}

    def save(name, which, label):
        try:
            results[name] = which.save_changes(
                ref, Changes().update("candidates", "C1", {"label": label}),
                base_version=1, actor=name)
        except ConflictError as exc:
            results[name] = exc

    alice = threading.Thread(target=save, args=("alice", store, "Alice's"), name="alice")
    bob = threading.Thread(target=save, args=("bob", other, "Bob's"), name="bob")
    alice.start()
    assert alice_inside.wait(30)
    bob.start()
    if engine_name == "postgis":  # Bob is waiting for the row lock Alice holds
        with store.engine.connect() as conn:
            query = text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                         " AND datname = current_database()")
            deadline = threading.Event()
            for _ in range(3000):
                if conn.execute(query).scalar_one() == 1:
                    bob_waiting.set()
                    break
                deadline.wait(0.01)
    assert bob_waiting.wait(30)
    let_alice_go.set()
    alice.join(30)
    bob.join(30)
    other.close()
    assert results["alice"] == 2
    assert isinstance(results["bob"], ConflictError)
    assert "version 2 by alice" in str(results["bob"])
    assert label_of(store, ref, "C1") == "Alice's"
    assert [r.version for r in store.history(ref)] == [1, 2]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (Changes().update("people", "P2", {"role": "boss"}),
         r"case T-1: error: people P2 \[role\]: unknown value 'boss'"),
        (Changes().delete("people", "P1"),
         r"links row 1 \[person_id\]: refers to people 'P1', which does not exist"),
        (Changes().add("candidates", gpd.GeoDataFrame(
            {"candidate_id": ["C1"], "label": ["Again"]},
            geometry=[shapely.Point(383_000, 398_000)], crs=27700)),
         r"candidates new row 1 \(C1\) \[candidate_id\]: id 'C1' already exists in the case"),
        (Changes().add("candidates", gpd.GeoDataFrame(
            {"candidate_id": ["C9"], "label": ["Paris"]},
            geometry=[shapely.Point(2.35, 48.85)], crs=4326)),
         r"candidates new row 1 \(C9\) \[geometry\]: coordinates .* outside Great Britain"),
        (Changes().update("candidates", "C1", {"candidate_id": "C7"}),
         r"candidates C1 \[candidate_id\]: the id cannot be changed"),
        (Changes().delete("case", "T-1"), r"case: must have exactly one row; the edit leaves 0"),
    ],
    ids=["bad-value", "dangling-reference", "duplicate-id", "outside-gb", "id-change",
         "no-case-row"],
)
def test_a_bad_edit_changes_nothing(store, ref, rich_case, edit, message):
    with pytest.raises(ValidationError, match=message):
        store.save_changes(ref, edit, base_version=1, actor="bob")
    loaded = store.load_case(ref)
    assert loaded.version == 1
    assert_same_case(rich_case, loaded.case)
    assert len(store.history(ref)) == 1


def test_edits_to_rows_that_are_not_there(store, ref):
    with pytest.raises(NotFound, match="candidates: no row 'C9' in the case"):
        store.save_changes(ref, Changes().delete("candidates", "C9"), base_version=1,
                           actor="bob")
    with pytest.raises(InputError, match="unknown layer 'suspects'"):
        store.save_changes(ref, Changes().delete("suspects", "S1"), base_version=1,
                           actor="bob")
    with pytest.raises(InputError, match="edited twice in one save"):
        store.save_changes(ref, Changes().update("candidates", "C1", {"label": "a"})
                           .delete("candidates", "C1"), base_version=1, actor="bob")
    with pytest.raises(InputError, match="case T-1 has no version 7"):
        store.save_changes(ref, Changes().delete("candidates", "C1"), base_version=7,
                           actor="bob")
    with pytest.raises(NotFound, match="no case 'T-404'"):
        store.load_case("T-404")


def test_an_edit_that_changes_nothing_makes_no_version(store, ref):
    same = Changes().update("candidates", "C1", {"label": "Near rivals"})
    assert store.save_changes(ref, same, base_version=1, actor="bob") == 1
    assert len(store.history(ref)) == 1


def test_editing_the_case_row_updates_the_listing(store, ref):
    store.save_changes(ref, Changes().update("case", "T-1", {"title": "Tiny, renamed",
                                                             "classification": "secret"}),
                       base_version=1, actor="carol")
    [info] = store.list_cases()
    assert (info.title, info.classification, info.updated_by) == ("Tiny, renamed", "SECRET",
                                                                  "carol")


def test_a_new_extra_column_keeps_its_values(store, ref):
    store.save_changes(ref, Changes().update("candidates", "C3", {"landlord": "Northern"}),
                       base_version=1, actor="bob")
    cands = store.load_case(ref).case["candidates"]
    assert cands["landlord"].tolist()[2] == "Northern"
    assert cands["landlord"].isna().tolist() == [True, True, False]
    with pytest.raises(InputError, match="a value does not fit its column"):
        store.save_changes(ref, Changes().update("candidates", "C3", {"floor": "top"}),
                           base_version=2, actor="bob")


def test_replace_layer_saves_only_the_differences(store, ref):
    zones = store.load_case(ref).case["zones"]
    new = pd.concat([zones.iloc[[1]].assign(reason="rival territory, widened"),
                     gpd.GeoDataFrame({"zone_id": ["Z3"], "kind": ["safe_area"],
                                       "reason": ["quiet"], "source": ["drawn"]},
                                      geometry=[shapely.box(390_000, 390_000, 391_000,
                                                            391_000)], crs=27700)],
                    ignore_index=True)
    version = store.replace_layer(ref, "zones", new, base_version=1, actor="dan")
    assert version == 2
    loaded = store.load_case(ref)
    assert loaded.keys["zones"] == ["Z2", "Z3"]
    assert loaded.case["zones"]["reason"].tolist() == ["rival territory, widened", "quiet"]
    assert store.history(ref)[-1].summary == "zones: 1 row added, 1 row changed, 1 row removed"
    same = store.load_case(ref).case["zones"]
    assert store.replace_layer(ref, "zones", same, base_version=2, actor="dan") == 2


# ---------------------------------------------------------------------------------------------
# history and undo


def test_every_change_is_recorded_before_and_after(store, ref):
    store.save_changes(ref, Changes().update("candidates", "C1", {"label": "Renamed"})
                       .delete("groups", "GA").delete("people", "P1").delete("links", "#0")
                       .delete("activity_areas", "AR3"),
                       base_version=1, actor="bob", reason="tidy")
    rows = {(c.layer, c.key): c for c in store.changes_in(ref, 2)}
    assert set(rows) == {("candidates", "C1"), ("groups", "GA"), ("people", "P1"),
                         ("links", "#0"), ("activity_areas", "AR3")}
    c1 = rows[("candidates", "C1")]
    assert (c1.op, c1.before["attrs"]["label"], c1.after["attrs"]["label"]) == (
        "update", "Near rivals", "Renamed")
    assert shapely.from_wkb(bytes.fromhex(c1.after["wkb"])).equals(
        shapely.Point(381_200, 395_100))
    assert rows[("groups", "GA")].after is None
    assert rows[("groups", "GA")].before["attrs"] == {"group_id": "GA", "name": "Alpha"}


def test_undo_brings_back_exactly_what_was_there(store, ref, rich_case):
    store.save_changes(ref, Changes().update("candidates", "C1", {"label": "Renamed"})
                       .delete("links", "#1").delete("zones", "Z1")
                       .add("groups", pd.DataFrame({"group_id": ["GC"], "name": ["Charlie"]})),
                       base_version=1, actor="bob")
    assert store.undo(ref, 2, actor="alice", reason="wrong case") == 3
    loaded = store.load_case(ref)
    assert_same_case(rich_case, loaded.case)
    assert loaded.keys["links"] == ["#0", "#1", "#2", "#3"]
    last = store.history(ref)[-1]
    assert (last.actor, last.reason) == ("alice", "undo version 2: wrong case")
    assert last.summary == ("candidates: 1 row changed; groups: 1 row removed; links: 1 row "
                            "added; zones: 1 row added")


def test_undo_is_refused_when_a_later_save_changed_the_same_rows(store, ref):
    store.save_changes(ref, Changes().update("candidates", "C1", {"label": "Bob's"}),
                       base_version=1, actor="bob")
    store.save_changes(ref, Changes().update("candidates", "C1", {"label": "Carol's"}),
                       base_version=2, actor="carol")
    with pytest.raises(ConflictError, match=r"cannot undo version 2 of case T-1: candidates C1 "
                                            r"changed again since \(version 3 by carol"):
        store.undo(ref, 2, actor="alice")
    with pytest.raises(InputError, match="version 1 created case T-1; that cannot be undone"):
        store.undo(ref, 1, actor="alice")
    assert label_of(store, ref, "C1") == "Carol's"
    assert store.undo(ref, 3, actor="alice") == 4
    assert label_of(store, ref, "C1") == "Bob's"


def test_undo_that_would_break_a_reference_is_refused(store, ref):
    store.save_changes(ref, Changes().add("groups", pd.DataFrame(
        {"group_id": ["GC"], "name": ["Charlie"]})), base_version=1, actor="bob")
    store.save_changes(ref, Changes().update("people", "P3", {"group_id": "GC"}),
                       base_version=2, actor="bob")
    with pytest.raises(ValidationError, match="refers to groups 'GC', which does not exist"):
        store.undo(ref, 2, actor="alice")
    assert store.case_info(ref).version == 3


# ---------------------------------------------------------------------------------------------
# archive and restore


def test_archive_hides_a_case_and_restore_brings_it_back(store, ref, rich_case, tmp_path):
    assert store.archive_case(ref, actor="sup", reason="family settled") == 2
    assert store.list_cases() == []
    [archived] = store.list_cases(include_archived=True)
    assert archived.archived
    assert archived.version == 2
    with pytest.raises(InputError, match="case T-1 is archived; restore it first"):
        store.load_case(ref)
    with pytest.raises(InputError, match="is archived"):
        store.save_changes(ref, Changes().delete("candidates", "C1"), base_version=2,
                           actor="bob")
    with pytest.raises(InputError, match="is archived"):
        store.export_gpkg(ref, tmp_path / "x.gpkg")
    with pytest.raises(InputError, match="case T-1 is already archived"):
        store.archive_case(ref, actor="sup")
    assert_same_case(rich_case, store.load_case(ref, include_archived=True).case)

    assert store.restore_case(ref, actor="sup") == 3
    loaded = store.load_case(ref)
    assert_same_case(rich_case, loaded.case)
    assert [r.summary for r in store.history(ref)] == [
        "created the case", "archived the case", "restored the case"]
    assert store.history(ref)[1].reason == "family settled"


# ---------------------------------------------------------------------------------------------
# the candidate pre-filter


@pytest.fixture
def many_candidates(store) -> tuple[str, gpd.GeoDataFrame]:
    rng = np.random.default_rng(7)
    n = 2_000
    xy = rng.uniform([380_000, 394_000], [392_000, 404_000], size=(n, 2))
    cands = gpd.GeoDataFrame(
        {"candidate_id": [f"K{i:05d}" for i in range(n)], "label": "flat"},
        geometry=shapely.points(xy), crs=27700)
    case = Case({"case": pd.DataFrame({"case_ref": ["BIG-1"]}), "candidates": cands})
    return store.create_case(case, actor="alice"), cands


def brute_force(cands: gpd.GeoDataFrame, sources, distances) -> list[str]:
    d = np.array([[c.distance(s) for s in sources] for c in cands.geometry])
    near = (d <= np.asarray(distances)[None, :]).any(axis=1)
    return cands["candidate_id"][~near].tolist()


def test_prefilter_keeps_exactly_the_candidates_beyond_every_source(store, many_candidates):
    ref, cands = many_candidates
    sources = gpd.GeoDataFrame(
        {"distance_m": [500.0, 1_000.0, 250.0, 0.0]},
        geometry=[shapely.Point(384_000, 398_000), shapely.box(388_000, 400_000, 389_000,
                                                                 401_000),
                  shapely.Point(381_000, 395_000), shapely.box(390_000, 395_000, 391_000,
                                                                 396_000)],
        crs=27700)
    kept = store.prefilter_candidates(ref, sources)
    expected = brute_force(cands, sources.geometry, sources["distance_m"])
    assert kept == expected
    assert 1_000 < len(kept) < 2_000
    # one distance for all, sources given in WGS84
    wgs = sources.geometry.to_crs(4326)
    assert store.prefilter_candidates(ref, wgs, distance_m=300) == brute_force(
        cands, wgs.to_crs(27700), [300] * 4)


def test_prefilter_counts_a_candidate_exactly_at_the_distance_as_within(store, ref):
    c1 = shapely.Point(381_200, 395_100)
    source = gpd.GeoSeries([shapely.Point(381_200, 395_600)], crs=27700)
    assert "C1" not in store.prefilter_candidates(ref, source, distance_m=500)
    assert "C1" in store.prefilter_candidates(ref, source, distance_m=499.9)
    assert c1.distance(source.iloc[0]) == 500


def test_prefilter_against_the_cases_own_layers(store, ref):
    kept = store.prefilter_candidates(ref, ["activity_areas", "incidents"], distance_m=200)
    # C1 is inside rival territory AR1, C3 is 141 m from incident I1; C2 is far from both
    assert kept == ["C2"]
    assert store.load_layer(ref, "candidates", keys=kept)["label"].tolist() == ["Far away"]
    with pytest.raises(InputError, match="give one distance_m"):
        store.prefilter_candidates(ref, ["incidents"])


def test_load_layer_returns_the_asked_for_rows_in_stored_order(store, ref):
    frame = store.load_layer(ref, "candidates", keys=["C3", "C1", "C404"])
    assert frame["candidate_id"].tolist() == ["C1", "C3"]
    assert frame.crs.to_epsg() == 27700


@pytest.mark.postgis
@pytest.mark.parametrize("engine_name", ["postgis"])
def test_a_big_import_leaves_fresh_statistics_for_the_planner(store):
    """Without them PostgreSQL takes a new 12,000-row layer for a handful of rows and the
    pre-filter scans every pair instead of using the GiST index."""
    n = 12_000
    xy = np.random.default_rng(3).uniform([380_000, 394_000], [392_000, 404_000], size=(n, 2))
    cands = gpd.GeoDataFrame({"candidate_id": [f"S{i}" for i in range(n)], "label": "flat"},
                             geometry=shapely.points(xy), crs=27700)
    store.create_case(Case({"case": pd.DataFrame({"case_ref": ["STATS-1"]}),
                            "candidates": cands}), actor="alice")
    with store.engine.connect() as conn:
        counted = conn.execute(text(
            "SELECT reltuples FROM pg_class WHERE relname = 'features'")).scalar_one()
    assert counted >= n


def test_a_command_argument_opens_a_stored_case_or_a_file(store, ref, store_url, rich_case,
                                                          tmp_path):
    from geo.settings import Settings
    from geo.store import open_case_arg

    settings = Settings(data_dir=tmp_path, database_url=store_url)
    opened = open_case_arg("case:T-1", settings=settings)
    assert (opened.ref, opened.version, opened.path, opened.name) == ("T-1", 1, None,
                                                                      "case:T-1")
    assert_same_case(rich_case, opened.case)
    path = write_case(rich_case, tmp_path / "t1.gpkg")
    from_file = open_case_arg(str(path), settings=settings)
    assert (from_file.ref, from_file.path, from_file.name) == (None, path, "t1.gpkg")
    assert_same_case(rich_case, from_file.case)
    store.archive_case(ref, actor="sup")
    with pytest.raises(InputError, match="case T-1 is archived"):
        open_case_arg("case:T-1", settings=settings)
    with pytest.raises(NotFound, match="no case 'T-2'"):
        open_case_arg("case:T-2", settings=settings)
