"""The case map: every layer in the layer control and legend, escaped, no CDN, fits the case."""

from __future__ import annotations

import re

import geopandas as gpd
import numpy as np
import pytest
import shapely

from geo.demo import AS_OF, build_demo_case
from geo.maps import (
    asset_files,
    case_map,
    esc,
    feature_at,
    popup_html,
    use_local_assets,
)
from geo.rank import rank_case
from geo.settings import Policy
from geo.zones import exclusion_zones

POLICY = Policy.default()


@pytest.fixture(scope="module")
def demo():
    return build_demo_case()


@pytest.fixture(scope="module")
def demo_html(demo):
    use_local_assets("/app/static/vendor")
    ranked = rank_case(demo, POLICY, as_of=AS_OF)
    zones = exclusion_zones(demo, POLICY, as_of=AS_OF)
    m = case_map(demo, zones=zones, ranked=ranked, as_of=AS_OF, draw=True)
    return m.get_root().render()


def test_every_layer_is_in_the_layer_control(demo_html):
    control = re.search(r"overlays\s*:\s*\{(.*?)\}", demo_html, re.S).group(1)
    for title in ("Heron (south) activity areas", "Kestrel (north) activity areas",
                  "Exclusion zones and no-go areas", "Incidents", "Incident heat map",
                  "Linked addresses", "Schools and support", "Candidates"):
        assert f'"{title}"' in control, title


def test_the_legend_names_groups_kinds_and_candidates(demo_html):
    legend = re.search(r"div\.innerHTML = (\".*?\");", demo_html, re.S).group(1)
    for text in ("Heron (south)", "Kestrel (north)", "Shooting", "Arson", "Known to rivals",
                 "School", "Support", "Eligible, numbered by rank", "Not eligible",
                 "Exclusion zone or no-go area"):
        assert text in legend, text


def test_no_asset_comes_from_outside(demo_html):
    urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", demo_html)
    assert urls, "the page should load its scripts"
    for url in urls:
        assert url.startswith("/app/static/vendor/"), url
    assert "cdn" not in demo_html.lower()
    assert "https://" not in demo_html.replace("http://www.w3.org/2000/svg", "")


def test_the_asset_files_exist_locally():
    files = asset_files()
    for rel in ("leaflet/leaflet.js", "leaflet/leaflet.css", "leaflet/draw/leaflet.draw.js",
                "jquery/jquery.min.js", "heat/leaflet_heat.min.js"):
        assert files[rel].is_file(), rel


def test_no_tiles_by_default_and_configured_tiles_only_when_asked(demo):
    use_local_assets("/app/static/vendor")
    html = case_map(demo, as_of=AS_OF).get_root().render()
    assert "L.tileLayer" not in html
    html = case_map(demo, as_of=AS_OF, tiles=("https://tiles.example/{z}/{x}/{y}.png",
                                               "© Example <b>maps</b>")).get_root().render()
    assert "https://tiles.example/{z}/{x}/{y}.png" in html
    assert "<b>maps" not in html
    assert "\\u0026lt;b\\u0026gt;maps" in html  # escaped, then JSON-encoded


def test_user_strings_are_escaped_everywhere(demo):
    evil = "<script>alert('x')</script><img src=x onerror=alert(1)>"
    people = demo["people"].copy()
    addresses = demo["addresses"].copy()
    addresses.loc[0, "label"] = evil
    incidents = demo["incidents"].copy()
    incidents.loc[0, "description"] = evil
    groups = demo["groups"].copy()
    groups.loc[0, "name"] = evil
    zones = demo["zones"].copy()
    zones.loc[0, "reason"] = evil
    case = demo.replace(addresses=addresses, incidents=incidents, groups=groups, zones=zones,
                        people=people)
    html = case_map(case, zones=case["zones"], as_of=AS_OF).get_root().render()
    assert "<script>alert" not in html
    assert "onerror=alert(1)>" not in html
    # escaped for HTML, then encoded as JSON for the page's script
    assert "\\u0026lt;script\\u0026gt;alert(\\u0026#x27;x\\u0026#x27;)" in html


def test_popup_html_escapes_and_skips_blanks():
    out = popup_html("A & B", [("Name", "<b>x</b>"), ("Empty", None), ("Zero", 0)])
    assert "<b>A &amp; B</b>" in out
    assert "&lt;b&gt;x&lt;/b&gt;" in out
    assert "Empty" not in out
    assert ">0<" in out
    assert esc(float("nan")) == ""


def test_the_map_fits_the_case(demo):
    m = case_map(demo, as_of=AS_OF)
    html = m.get_root().render()
    found = re.findall(r"fitBounds\(\s*\[\[([\d.-]+), ([\d.-]+)\], \[([\d.-]+), ([\d.-]+)\]\]",
                       html)
    south, west, north, east = (float(v) for v in found[0])
    wgs = demo["candidates"].to_crs(4326)
    assert south <= wgs.geometry.y.min()
    assert north >= wgs.geometry.y.max()
    assert west <= wgs.geometry.x.min()
    assert east >= wgs.geometry.x.max()


def test_a_click_finds_the_feature(demo):
    cands = demo["candidates"]
    first = cands.to_crs(4326).geometry.iloc[0]
    layer, row = feature_at({"candidates": cands, "activity_areas": demo["activity_areas"]},
                            first.y, first.x)
    assert layer == "candidates"
    assert row["candidate_id"] == cands["candidate_id"].iloc[0]
    area = demo["activity_areas"].set_index("area_id").loc["AA-H1"].geometry
    inside = gpd.GeoSeries([area.representative_point()], crs=27700).to_crs(4326).iloc[0]
    layer, row = feature_at({"activity_areas": demo["activity_areas"]}, inside.y, inside.x)
    assert (layer, row["area_id"]) == ("activity_areas", "AA-H1")
    assert feature_at({"activity_areas": demo["activity_areas"]}, 51.5, -0.12) is None
    _ = shapely


def test_a_sector_label_shows_only_when_its_sector_can_hold_it():
    from geo.maps import label_zoom

    # at zoom 12 in Manchester a pixel is about 22.7 m: a 56 px label needs about 1.3 km
    zooms = label_zoom(np.array([5_000.0, 1_300.0, 700.0, 300.0, 10.0]))
    assert zooms.tolist() == [12.0, 12.0, 13.0, 14.5, 15.0]
    assert (np.diff(label_zoom(np.linspace(50, 5_000, 50))) <= 0).all()  # wider, sooner
