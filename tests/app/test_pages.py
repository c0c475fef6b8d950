"""Every screen with Streamlit's AppTest: opens on the demo case, offline map, ranking,
uploads, edits and errors shown as messages."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest

from tests.app.conftest import page
from ui.markup import shown


def banner(at) -> str:
    return " ".join(m.value for m in at.markdown)


def test_after_sign_in_the_app_opens_on_the_demo_case(app):
    assert "OFFICIAL-SENSITIVE" in banner(app)
    assert "DEMO-2026-0147" in banner(app)
    cases = app.dataframe[0].value
    assert cases["case"].tolist() == ["DEMO-2026-0147"]
    assert cases["status"].tolist() == ["open"]


def test_every_screen_shows_the_classification(app):
    for path in ("pages/map.py", "pages/candidates.py", "pages/case_data.py"):
        page(app, path)
        assert "OFFICIAL-SENSITIVE" in banner(app), path


def map_args(at) -> dict:
    [component] = at.get("component_instance")
    return json.loads(component.proto.json_args)


def overlays(script: str) -> set[str]:
    """The names in the map's layer control."""
    block = re.search(r"overlays\s*:\s*\{(.*?)\}", script, re.S).group(1)
    return set(re.findall(r'"([^"]+)"\s*:', block))


def test_the_map_draws_every_layer_from_local_files(app):
    page(app, "pages/map.py")
    args = map_args(app)
    script = args["script"]
    names = overlays(script)
    for title in ("Heron (south) activity areas", "Kestrel (north) activity areas",
                  "Exclusion zones and no-go areas", "Derived hot spots", "Incidents",
                  "Incident heat map", "Linked addresses", "Schools and support",
                  "Candidates", "Postcode sectors (approximate)"):
        assert title in names, title
    links = args["js_links"] + args["css_links"]
    assert links
    assert all(link.startswith("/app/static/vendor/") for link in links), links
    assert "L.tileLayer" not in script  # no tile server unless an administrator sets one


def test_map_filters_leave_out_groups(app):
    page(app, "pages/map.py")
    app.multiselect(key="map_groups").set_value(["G-KES"]).run()
    names = overlays(map_args(app)["script"])
    assert "Kestrel (north) activity areas" in names
    assert "Heron (south) activity areas" not in names


def ranked_ids(at) -> list[str]:
    table = at.dataframe[0].value
    return table["Label"].tolist()


def test_candidates_are_ranked_and_weights_change_the_order(app):
    page(app, "pages/candidates.py")
    table = app.dataframe[0].value
    assert len(table) == 320
    assert table["Rank"].tolist()[:3] == [1, 2, 3]
    assert bool(table["Eligible"].iloc[0])
    assert table["Reasons"].iloc[0].startswith("Eligible.")
    before = ranked_ids(app)
    app.slider(key="cand_w_threat").set_value(0.0)
    app.slider(key="cand_w_support").set_value(0.0)
    app.slider(key="cand_w_school").set_value(1.0).run()
    after = ranked_ids(app)
    assert before != after
    school = app.dataframe[0].value
    eligible = school[school["Eligible"]]
    assert eligible["School run (min)"].is_monotonic_increasing


def test_the_threat_rules_are_shown_beside_the_ranking(app):
    from geo.sources import RULES

    page(app, "pages/candidates.py")
    rules = next(d.value for d in app.dataframe if "Rule" in d.value.columns)
    assert rules["Rule"].tolist() == [r.rule_id for r in RULES]
    assert "former" in " ".join(rules["What becomes a threat source"])  # the former home counts


def test_a_hard_limit_refuses_candidates(app):
    page(app, "pages/candidates.py")
    n_before = int(app.dataframe[0].value["Eligible"].sum())
    app.slider(key="cand_max_school").set_value(10).run()
    table = app.dataframe[0].value
    assert int(table["Eligible"].sum()) < n_before
    refused = table[~table["Eligible"]]
    assert refused["Reasons"].str.contains("exceeds the 10 min limit").any()


def test_the_ranking_leaves_only_with_a_purpose_and_is_recorded(app, isolated_settings):
    from geo import audit
    from tests.app.conftest import store_of

    page(app, "pages/candidates.py")
    assert not app.get("download_button")  # nothing to download before a purpose is given
    prepare = app.button(key="cand_export_prepare")
    assert prepare.disabled
    app.text_input(key="cand_export_purpose").set_value("housing panel 27 November").run()
    app.button(key="cand_export_prepare").click().run()
    [button] = app.get("download_button")
    assert button.proto.label == "Download the ranking (CSV)"
    store = store_of(isolated_settings)
    [last] = audit.search(store, action="export", limit=1)
    store.close()
    assert (last.username, last.case_ref, last.why) == ("analyst-user", "DEMO-2026-0147",
                                                         "housing panel 27 November")


def test_a_vacancy_list_with_bad_rows_is_refused_row_by_row(app):
    page(app, "pages/candidates.py")
    bad = b"candidate_id,label,postcode\nN1,Flat,M1 1AD\nN2,House,QQ1\nN3,Flat,ZZ9 9ZZ\n"
    app.file_uploader(key="cand_upload").upload("vacancies.csv", bad, "text/csv")
    app.run()
    assert not app.exception
    assert "The vacancy list was not used" in app.error[0].value
    failed = app.dataframe[0].value
    assert failed["row"].tolist() == ["row 3 (N2)", "row 4 (N3)"]


def test_a_good_vacancy_list_is_ranked_instead(app):
    page(app, "pages/candidates.py")
    good = b"candidate_id,label,postcode\nN1,Flat in Wigan,WN3 4HE\nN2,Flat,M8 5EH\n"
    app.file_uploader(key="cand_upload").upload("new.csv", good, "text/csv")
    app.run()
    assert "Ranking 2 vacancies from new.csv" in app.success[0].value
    table = app.dataframe[0].value
    assert sorted(table["Label"]) == ["Flat", "Flat in Wigan"]
    assert table.set_index("Label").loc["Flat", "Eligible"] is False or not bool(
        table.set_index("Label").loc["Flat", "Eligible"])


def test_case_data_import_previews_then_saves(app):
    page(app, "pages/case_data.py")
    app.selectbox(key="data_layer").set_value("candidates").run()
    rows = b"candidate_id,label,postcode\nT-1,Test flat,M1 1AD\nT-2,Test house,SK3 9EE\n"
    app.file_uploader(key="data_upload").upload("more.csv", rows, "text/csv")
    app.run()
    assert app.success[0].value.startswith("more.csv: 2 rows are ready to add to candidates")
    preview = app.dataframe[-1].value
    assert preview["candidate_id"].tolist() == ["T-1", "T-2"]
    app.button(key="data_import").click().run()
    assert "Imported; the case is now version" in app.success[-1].value


def test_case_data_import_of_a_bad_file_names_the_rows(app):
    page(app, "pages/case_data.py")
    app.selectbox(key="data_layer").set_value("incidents").run()
    bad = b"incident_id,occurred_at,kind\nX1,2026-01-01,shooting\nX2,tomorrow,shooting\n"
    app.file_uploader(key="data_upload").upload("bad.csv", bad, "text/csv")
    app.run()
    assert not app.exception
    assert app.error
    problems = app.dataframe[-1].value
    assert "row 2 (X1)" in problems["row"].tolist() or "row 3 (X2)" in problems["row"].tolist()


def test_a_bad_policy_is_refused_by_name(app):
    page(app, "pages/case_data.py")
    key = next(w.key for w in app.text_area if w.key.startswith("data_policy_"))
    app.text_area(key=key).set_value("[limits]\nmax_school_mins = 30\n")
    app.button(key="data_policy_save").click().run()
    assert "unknown policy key 'limits.max_school_mins'" in shown(app.error[0].value)


def test_a_junk_geopackage_is_a_message_not_a_traceback(app):
    page(app, "pages/cases.py")
    app.file_uploader(key="cases_upload").upload("junk.gpkg", b"not a database",
                                                 "application/octet-stream")
    app.run()
    app.button(key="cases_create").click().run()
    assert not app.exception
    assert "not a GeoPackage that can be read" in app.error[0].value


@pytest.mark.parametrize("name", ["../../etc/evil.gpkg", "..\\\\win\\\\evil.gpkg"])
def test_an_upload_name_cannot_escape_its_folder(name):
    from ui.uploads import safe_name

    assert "/" not in safe_name(name)
    assert "\\\\" not in safe_name(name)
    assert safe_name(name).endswith(".gpkg")
    assert not safe_name(name).startswith(".")
    _ = pd


def test_safe_areas_are_named_and_exportable(app):
    page(app, "pages/areas.py")
    table = app.dataframe[0].value
    assert len(table) >= 3
    assert table["rank"].tolist()[:3] == [1, 2, 3]
    assert table["name"].str.contains(r"\b[A-Z]{1,2}\d+").all()  # named by district
    assert table["reasons"].str.len().min() > 20
    first_map = json.loads(app.get("component_instance")[0].proto.json_args)["script"]
    assert "Suggested safe areas" in overlays(first_map)
    assert any("sector" in name.lower() for name in overlays(first_map))  # the base map
    numbered = re.findall(r"sp-rank\\u0027 style=\\u0027background:#[0-9a-f]+\\u0027"
                          r"\\u003e(\w+)\\u003c/div", first_map)
    assert sorted(numbered, key=int) == [str(r) for r in table["rank"]]
    assert app.button(key="areas_prepare").proto.label.startswith(
        "Prepare: Download the safe areas")


def test_no_go_areas_for_a_person(app):
    page(app, "pages/areas.py")
    app.radio(key="areas_section").set_value("No-go areas for a person").run()
    app.selectbox(key="nogo_person").set_value("P05").run()
    table = app.dataframe[-1].value
    assert len(table) >= 1
    assert table["postcode_sectors"].str.len().min() > 0
    # the map fits the no-go areas and numbers them as the list does
    script = map_args(app)["script"]
    numbered = re.findall(r"sp-rank\\u0027 style=\\u0027background:#[0-9a-f]+\\u0027"
                          r"\\u003e(\w+)\\u003c/div", script)
    assert sorted(numbered) == sorted(table["number"].astype(str))
    bounds = re.search(r"fitBounds\(\s*\[\[([-\d.]+),\s*([-\d.]+)\],\s*\[([-\d.]+),\s*"
                       r"([-\d.]+)\]\]", script)
    south, west, north, east = map(float, bounds.groups())
    # the no-go areas, not all of Greater Manchester
    assert north - south < 0.2
    assert east - west < 0.3


def test_the_agreement_previews_and_prints(app):
    page(app, "pages/agreements.py")
    assert app.success[0].value.startswith("Leanne Ashdown: ")
    assert "no-go area" in app.success[0].value
    assert app.button(key="agr_pdf_prepare").proto.label == "Prepare: Download the annex (PDF)"
    app.selectbox(key="agr_person").set_value("P05").run()
    assert app.success[0].value.startswith("Kayla Dorrit: ")
    # the preview is a frame of its own, so its print styles stay inside it
    assert not app.get("html")
    frames = [c for c in app.get("iframe")]
    assert any("Working agreement" in (f.proto.srcdoc or "") for f in frames)


def test_a_broken_agreement_template_is_a_message(app):
    page(app, "pages/agreements.py")
    app.text_area(key="agr_template").set_value("title = [unclosed").run()
    assert not app.exception
    assert "not valid TOML" in app.error[0].value


def test_the_street_network_screen_without_a_file(app):
    page(app, "pages/network.py")
    assert "No street file yet" in app.info[0].value


@pytest.fixture
def new_case_app(isolated_settings):
    """The app on a case just created from scratch: no people, no subject, nothing mapped."""
    from geo.model import Case
    from tests.app.conftest import ensure_user, fresh_app, sign_in, store_of

    fresh_app()  # sets up the store
    store = store_of(isolated_settings)
    try:
        if "NEW-1" not in {c.ref for c in store.list_cases()}:
            store.create_case(Case({"case": pd.DataFrame({"case_ref": ["NEW-1"],
                                                           "title": ["Just opened"]})}),
                              actor="test")
    finally:
        store.close()
    at = fresh_app()
    return sign_in(at, ensure_user(isolated_settings, "analyst", cases=("NEW-1",),
                                   name="new-case-analyst"))


@pytest.mark.parametrize("path", ["pages/map.py", "pages/meeting.py", "pages/candidates.py",
                                  "pages/areas.py", "pages/agreements.py",
                                  "pages/case_data.py"])
def test_a_new_empty_case_says_what_to_do_on_every_screen(new_case_app, path):
    at = new_case_app
    page(at, path)
    assert "NEW-1" in banner(at)
    said = " ".join(shown(x.value) for x in [*at.info, *at.warning, *at.error, *at.caption])
    assert not at.error, [e.value for e in at.error]
    assert said.strip()


def test_an_export_recorded_for_one_case_does_not_carry_over_to_another(isolated_settings):
    """Prepared on the demo case, the download button must not offer another case's file
    when the sidebar switches case: that case's export has not been recorded."""
    from geo.demo import build_demo_case
    from tests.app.conftest import ensure_user, fresh_app, sign_in, store_of

    fresh_app()
    store = store_of(isolated_settings)
    try:
        if "COPY-1" not in {c.ref for c in store.list_cases()}:
            demo = build_demo_case()
            store.create_case(demo.replace(case=demo["case"].assign(case_ref="COPY-1")),
                              actor="test")
    finally:
        store.close()
    at = sign_in(fresh_app(), ensure_user(isolated_settings, "analyst", name="two-case-analyst",
                                          cases=("DEMO-2026-0147", "COPY-1")))
    at.selectbox(key="sidebar_case").set_value("COPY-1").run()  # the sidebar opens a case
    assert "COPY-1" in banner(at)
    at.selectbox(key="sidebar_case").set_value("DEMO-2026-0147").run()
    assert "DEMO-2026-0147" in banner(at)
    page(at, "pages/candidates.py")
    at.text_input(key="cand_export_purpose").set_value("housing panel").run()
    at.button(key="cand_export_prepare").click().run()
    assert len(at.get("download_button")) == 1
    # (AppTest drops a sidebar choice made right after a download's rerun; a person's choice
    # in the browser lands, and does what this does)
    from ui.shell import CASE_KEY

    at.session_state[CASE_KEY] = "COPY-1"
    at.run()
    assert "COPY-1" in banner(at)
    assert not at.get("download_button")
    assert not at.button(key="cand_export_prepare").disabled  # a new record is needed


def test_the_annex_is_drawn_once_not_on_every_click(app, monkeypatch):
    import geo.agreement

    made = []
    real = geo.agreement.build_agreement
    monkeypatch.setattr(geo.agreement, "build_agreement",
                        lambda *a, **k: made.append(a[1]) or real(*a, **k))
    page(app, "pages/agreements.py")
    app.text_input(key="agr_pdf_purpose").set_value("strategy meeting").run()
    app.button(key="agr_pdf_prepare").click().run()
    assert len(app.get("download_button")) == 1
    assert made == ["P02"]  # typing the purpose and preparing the PDF drew nothing again
    app.selectbox(key="agr_person").set_value("P05").run()
    assert made == ["P02", "P05"]
