"""The street-network screen and network ranking in the app, on the real Stretford extract."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest

from geo.store import Store
from tests.app.conftest import ensure_user, fresh_app, page, sign_in
from ui.markup import shown


@pytest.fixture(scope="module")
def stretford_store(app_data):
    """The module's store holds only a small case on the Stretford extract."""
    from tests.conftest import SHARED_DATA
    from tests.geo.test_rank_network import bng

    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared test data not found at {SHARED_DATA}")
    import geopandas as gpd
    import pandas as pd
    import shapely

    from geo.model import validate_case

    school = bng(-2.3062, 53.4467)
    band = shapely.box(bng(-2.3200, 53.4451).x, bng(-2.3200, 53.4451).y,
                       bng(-2.2950, 53.4455).x, bng(-2.2950, 53.4455).y)
    layers = {
        "case": pd.DataFrame({"case_ref": ["NET-1"], "title": ["Stretford test"]}),
        "groups": pd.DataFrame({"group_id": ["GA"], "name": ["A"]}),
        "people": pd.DataFrame({"person_id": ["S", "P", "C"], "label": ["s", "p", "c"],
                                "role": ["subject", "partner", "child"],
                                "group_id": ["GA", None, None]}),
        "addresses": gpd.GeoDataFrame({"address_id": ["SC"], "label": ["Stretford school"],
                                       "kind": ["school"]}, geometry=[school], crs=27700),
        "links": pd.DataFrame({"person_id": ["C"], "address_id": ["SC"],
                               "relation": ["attends"]}),
        "candidates": gpd.GeoDataFrame(
            {"candidate_id": ["NORTH", "SOUTH"], "label": ["north flat", "south flat"]},
            geometry=[bng(-2.3090, 53.4463), bng(-2.3072, 53.4439)], crs=27700),
        "zones": gpd.GeoDataFrame({"zone_id": ["Z-BAND"], "kind": ["no_go"],
                                   "reason": ["Kingsway band"], "applies_to": [None]},
                                  geometry=[band], crs=27700),
        "policy": pd.DataFrame({"toml": ['[network]\nmode = "walk"\n']}),
    }
    case = validate_case(layers, now=dt.datetime(2026, 11, 25)).raise_if_fatal()
    with Store(f"sqlite:///{app_data / 'safeplan.db'}") as store:
        store.create_case(case, actor="test")
    return SHARED_DATA / "osm" / "stretford_kingsway_junction.osm"


@pytest.fixture
def net_app(stretford_store, isolated_settings):
    at = fresh_app()
    sign_in(at, ensure_user(isolated_settings, "analyst", cases=("NET-1",)))
    return at, stretford_store


def test_upload_choose_and_prepare_a_street_file(net_app, isolated_settings):
    at, osm = net_app
    page(at, "pages/network.py")
    at.file_uploader(key="net_upload").upload("Stretford extract.osm", osm.read_bytes(),
                                               "application/xml")
    at.run()
    at.button(key="net_keep").click().run()
    assert shown(at.success[0].value) == "Kept Stretford_extract.osm."
    # the same name with other content never replaces a file another case may use
    at.file_uploader(key="net_upload").upload("Stretford extract.osm",
                                              osm.read_bytes() + b"\n<!-- edited -->\n",
                                              "application/xml")
    at.run()
    at.button(key="net_keep").click().run()
    assert shown(at.success[0].value) == "Kept Stretford_extract-2.osm."
    at.selectbox(key="net_choice").set_value("Stretford_extract.osm").run()
    assert not at.exception
    from geo import audit
    from tests.app.conftest import store_of

    store = store_of(isolated_settings)
    try:
        made = [r.what for r in audit.search(store, action="change", case_ref="NET-1")
                if "street_file" in r.what]
    finally:
        store.close()
    assert [(w["op"], w["street_file"]) for w in reversed(made)] == [
        ("added", "Stretford_extract.osm"), ("added", "Stretford_extract-2.osm"),
        ("chosen", "Stretford_extract.osm")]
    assert re.match(r"Stretford_extract.osm: \d+ streets, [\d.]+ km, for walking",
                    shown(at.success[0].value))
    [component] = at.get("component_instance")
    script = json.loads(component.proto.json_args)["script"]
    assert "Street graph" in script
    assert "Reachable from Stretford school" in script


def test_candidates_use_the_street_network_and_check_routes(net_app):
    at, _ = net_app
    page(at, "pages/candidates.py")
    caption = " ".join(shown(c.value) for c in at.caption)
    assert "street network (walk)" in caption
    n = len(at.dataframe[0].value)
    on_net = (at.dataframe[0].value["Reasons"].str.contains(r"\(street network\)")).sum()
    assert on_net > 0  # the caption says how many times came from the street network
    assert f"for {on_net} of {n} candidates" in caption
    assert ("the rest estimated" in caption) == (on_net < n)
    assert "2 of the best have their school routes checked" in caption
    table = at.dataframe[0].value.set_index("Label")
    assert "passes through Kingsway band" in table.loc["south flat", "Reasons"]
    assert "(street network)" in table.loc["north flat", "Reasons"]
    [component] = at.get("component_instance")
    assert "School routes" in json.loads(component.proto.json_args)["script"]


def test_a_file_that_is_not_a_street_file_is_refused(net_app):
    at, _ = net_app
    page(at, "pages/network.py")
    at.file_uploader(key="net_upload").upload("notes.graphml", b"<not a graph", "text/xml")
    at.run()
    at.button(key="net_keep").click().run()
    at.selectbox(key="net_choice").set_value("notes.graphml").run()
    assert not at.exception
    assert at.error
    assert "notes.graphml" in at.error[0].value


def test_a_broken_street_file_falls_back_to_estimates_with_a_warning(net_app):
    at, _ = net_app  # notes.graphml is still chosen from the test before
    for screen in ("pages/candidates.py", "pages/areas.py"):
        page(at, screen)
        assert "notes.graphml cannot be used, so school runs are estimated" in shown(
            at.warning[0].value)
        assert not at.error
        assert "estimated: straight line x 1.4" in " ".join(shown(c.value) for c in at.caption)


def test_safe_areas_use_the_cases_street_network(net_app):
    at, _ = net_app
    page(at, "pages/network.py")
    at.selectbox(key="net_choice").set_value("Stretford_extract.osm").run()
    page(at, "pages/areas.py")
    caption = " ".join(shown(c.value) for c in at.caption)
    found = re.search(r"School runs: street network \(walk\) \(Stretford_extract\.osm\) for "
                      r"([\d,]+) of ([\d,]+) cells, the rest estimated", caption)
    assert found, caption
    assert 0 < int(found.group(1).replace(",", "")) < int(found.group(2).replace(",", ""))
