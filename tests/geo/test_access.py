"""Need-to-know, enforced in the engine: each role sees exactly its view of each layer, may do
exactly what the permission matrix says, and everything else is refused, changes nothing and
is recorded. Store tests run on SQLite and on PostgreSQL + PostGIS.
"""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from sqlalchemy import func, select

from geo import audit, auth
from geo._dbschema import changes as changes_table
from geo.access import (
    EDITABLE,
    PERMISSIONS,
    REDACTION,
    TITLE_WITHHELD,
    VIEWS,
    WHOLE,
    SecureStore,
    check_rules,
    redact,
)
from geo.errors import AccessDenied, InputError, NotFound
from geo.io import read_case
from geo.meeting import meeting_case
from geo.model import LAYER_NAMES, validate_case
from geo.rank import assess_case, rank
from geo.sources import policy_for_case
from geo.store import Changes
from tests.geo.conftest import NOW

SECRETS = {
    "groups": ("notes", "GB supplies the estate (source: CHIS 114)"),
    "people": ("notes", "P4 carries a gun"),
    "activity_areas": ("source", "Covert source 7"),
    "incidents": ("description", "Informant says Rex fired"),
}


@pytest.fixture
def case(rich_case):
    """The rich tiny case with intelligence detail in every place a role may not see it."""
    layers = dict(rich_case)
    layers["groups"] = layers["groups"].assign(notes=["", SECRETS["groups"][1]])
    layers["people"] = layers["people"].assign(notes=[None, None, None, SECRETS["people"][1]])
    layers["activity_areas"] = layers["activity_areas"].assign(
        source=[SECRETS["activity_areas"][1], "patrols", None])
    incidents = layers["incidents"].copy()
    incidents.loc[0, "description"] = SECRETS["incidents"][1]
    layers["incidents"] = incidents
    layers["people"] = layers["people"].assign(shoe_size=[9, 5, 2, 11])  # an extra column
    return validate_case({**layers, **rich_case.extra_layers}, now=NOW).raise_if_fatal()


def seen_columns(frame: pd.DataFrame) -> list[str]:
    """The columns that carry at least one value."""
    return [c for c in frame.columns if c != "geometry" and frame[c].notna().any()]


def ids(frame: pd.DataFrame, column: str) -> list[str]:
    return frame[column].astype(str).tolist()


# ---------------------------------------------------------------------------------------------
# the matrix, as data


def test_the_rules_are_consistent_and_editable_layers_are_seen_whole():
    check_rules()
    for role, layers in EDITABLE.items():
        for layer in layers:
            assert REDACTION[VIEWS[role]].get(layer, WHOLE).whole, (role, layer)
    assert EDITABLE["viewer"] == frozenset()
    assert PERMISSIONS["export"] == PERMISSIONS["print"] == frozenset(
        {"admin", "analyst", "housing", "social_worker"})
    assert PERMISSIONS["manage_users"] == PERMISSIONS["read_audit"] == frozenset({"admin"})
    assert VIEWS == {"admin": "full", "analyst": "full", "housing": "housing",
                     "social_worker": "social_worker", "viewer": "meeting"}


# (layer) -> (id column, rows, columns with values) for each role; "full" = admin and analyst
EXPECTED = {
    "full": {
        "case": ("case_ref", ["T-1"], ["case_ref", "title", "classification"]),
        "groups": ("group_id", ["GA", "GB"], ["group_id", "name", "notes"]),
        "people": ("person_id", ["P1", "P2", "P3", "P4"],
                   ["person_id", "label", "role", "group_id", "notes", "shoe_size"]),
        "activity_areas": ("area_id", ["AR1", "AR2", "AR3"],
                           ["area_id", "group_id", "kind", "confidence", "source"]),
        "incidents": ("incident_id", ["I1", "I2", "I3"],
                      ["incident_id", "occurred_at", "kind", "group_id", "target_address_id",
                       "description", "confidence"]),
        "addresses": ("address_id", ["A1", "A2", "A3"],
                      ["address_id", "label", "kind", "postcode", "known_to_rivals", "status"]),
        "links": ("address_id", ["A1", "A1", "A1", "A2"], ["person_id", "address_id",
                                                           "relation"]),
        "candidates": ("candidate_id", ["C1", "C2", "C3"],
                       ["candidate_id", "label", "postcode", "floor"]),
        "zones": ("zone_id", ["Z1", "Z2"], ["zone_id", "kind", "reason", "applies_to",
                                            "source"]),
    },
    "housing": {
        "case": ("case_ref", ["T-1"], ["case_ref", "title", "classification"]),
        "groups": ("group_id", ["GA", "GB"], ["group_id", "name"]),
        "people": ("person_id", ["P1", "P2", "P3"], ["person_id", "label", "role"]),
        "activity_areas": ("area_id", ["AR1", "AR2", "AR3"], ["area_id", "group_id", "kind"]),
        "incidents": ("incident_id", ["I1", "I2", "I3"],
                      ["incident_id", "occurred_at", "kind", "group_id"]),
        "addresses": ("address_id", ["A2", "A3"],
                      ["address_id", "label", "kind", "known_to_rivals", "status"]),
        "links": ("address_id", ["A2"], ["person_id", "address_id", "relation"]),
        "candidates": ("candidate_id", ["C1", "C2", "C3"],
                       ["candidate_id", "label", "postcode", "floor"]),
        "zones": ("zone_id", ["Z1", "Z2"], ["zone_id", "kind", "reason", "applies_to",
                                            "source"]),
    },
    "social_worker": {
        "case": ("case_ref", ["T-1"], ["case_ref", "title", "classification"]),
        "groups": ("group_id", ["GA", "GB"], ["group_id", "name"]),
        "people": ("person_id", ["P1", "P2", "P3", "P4"],
                   ["person_id", "label", "role", "group_id", "notes", "shoe_size"]),
        "activity_areas": ("area_id", ["AR1", "AR2", "AR3"], ["area_id", "group_id", "kind"]),
        "incidents": ("incident_id", ["I1", "I2", "I3"],
                      ["incident_id", "occurred_at", "kind", "group_id"]),
        "addresses": ("address_id", ["A1", "A2", "A3"],
                      ["address_id", "label", "kind", "postcode", "known_to_rivals", "status"]),
        "links": ("address_id", ["A1", "A1", "A1", "A2"], ["person_id", "address_id",
                                                           "relation"]),
        "candidates": ("candidate_id", ["C1", "C2", "C3"], ["candidate_id", "label",
                                                            "postcode"]),
        "zones": ("zone_id", ["Z1", "Z2"], ["zone_id", "kind", "reason", "applies_to",
                                            "source"]),
    },
    "meeting": {
        "case": ("case_ref", ["T-1"], ["case_ref", "title", "classification"]),
        "groups": ("group_id", ["GA", "GB"], ["group_id", "name"]),
        "people": ("person_id", ["P1", "P2", "P3", "P4"], ["person_id", "label", "role",
                                                            "group_id"]),
        "activity_areas": ("area_id", ["AR1", "AR2", "AR3"], ["area_id", "group_id", "kind"]),
        "incidents": ("incident_id", ["I1", "I2", "I3"],
                      ["incident_id", "occurred_at", "kind", "group_id"]),
        # A2 is the school the household's child attends
        "addresses": ("address_id", ["A1", "A3"],
                      ["address_id", "label", "kind", "postcode", "known_to_rivals", "status"]),
        "links": ("address_id", ["A1", "A1", "A1"], ["person_id", "address_id", "relation"]),
        "candidates": ("candidate_id", [], []),
        "zones": ("zone_id", ["Z1", "Z2"], ["zone_id", "kind", "reason", "applies_to",
                                            "source"]),
    },
}
ROLE_VIEWS = [(role, VIEWS[role]) for role in ("admin", "analyst", "housing", "social_worker",
                                               "viewer")]


def view_of(case, view: str):
    return meeting_case(case).case if view == "meeting" else redact(case, view).case


@pytest.mark.parametrize("layer", list(EXPECTED["full"]))
@pytest.mark.parametrize(("role", "view"), ROLE_VIEWS)
def test_each_role_sees_exactly_its_rows_and_columns(case, role, view, layer):
    shown = view_of(case, view)[layer]
    id_column, rows, columns = EXPECTED["full" if view == "full" else view][layer]
    assert ids(shown, id_column) == rows
    assert seen_columns(shown) == columns


@pytest.mark.parametrize(("role", "view"), ROLE_VIEWS)
def test_no_intelligence_detail_reaches_a_restricted_view(case, role, view):
    shown = view_of(case, view)
    text = " ".join(str(v) for name in LAYER_NAMES for col in shown[name].columns
                    if col != "geometry" for v in shown[name][col].dropna())
    for layer, (column, secret) in SECRETS.items():
        expected = view == "full" or (view == "social_worker" and layer == "people")
        assert (secret in text) is expected, (layer, column)
    assert ("analyst_notes" in shown.extra_layers) is (view == "full")


@pytest.mark.parametrize("view", ["housing", "social_worker", "meeting"])
def test_people_names_in_the_meeting_view_only_are_roles(case, view):
    labels = view_of(case, view)["people"]["label"].tolist()
    if view == "meeting":
        assert labels == ["Subject", "Partner", "Child", "Rival"]
    else:
        assert "Sam Subject" in labels


@pytest.mark.parametrize("view", ["housing", "social_worker"])
def test_analyses_on_a_restricted_view_give_the_same_answers(case, view):
    red = redact(case, view)
    policy = policy_for_case(case)
    full = rank(assess_case(case, policy, as_of=NOW, person_ids=["P2", "P3"]))
    mine = rank(assess_case(red.analysis_case, policy, as_of=NOW, person_ids=["P2", "P3"]))
    assert mine["candidate_id"].tolist() == full["candidate_id"].tolist()
    assert mine["score"].tolist() == full["score"].tolist()
    assert mine["eligible"].tolist() == full["eligible"].tolist()
    text = " ".join(mine["reasons"].astype(str))
    assert "Informant" not in text
    analysis = red.analysis_case
    assert analysis["incidents"]["description"].isna().all()
    assert analysis["incidents"]["confidence"].tolist() == ["high", "medium", "low"]
    if view == "housing":
        people = analysis["people"].set_index("person_id")
        assert people.loc["P4", "label"] == "Rival"  # a person housing does not see
        addresses = analysis["addresses"].set_index("address_id")
        assert addresses.loc["A1", "label"] == "withheld address A1"
        assert pd.isna(addresses.loc["A1", "postcode"])


def test_keys_follow_the_rows_a_view_keeps(case):
    keys = {"links": ["#0", "#1", "#2", "#3"], "addresses": ["A1", "A2", "A3"]}
    red = redact(case, "housing", keys)
    assert red.keys["links"] == ["#3"]
    assert red.keys["addresses"] == ["A2", "A3"]
    assert red.withheld == {"people": 1, "addresses": 1, "links": 3}
    assert red.hidden["incidents"] == ("target_address_id", "description", "confidence")


# ---------------------------------------------------------------------------------------------
# through the secure store


@pytest.fixture
def ref(store, case) -> str:
    return store.create_case(case, actor="setup")


def session(store, role: str, *, cases=()) -> SecureStore:
    name = f"{role.replace('_', '')}1"
    auth.add_user(store, name, role, actor="root", cases=list(cases))
    return SecureStore(store, auth.User(name, name, role))


def change_rows(store) -> int:
    with store.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(changes_table)).scalar_one()


def last(store):
    return audit.search(store, limit=1)[0]


def test_nobody_reaches_a_case_that_was_not_granted(store, ref):
    analyst = session(store, "analyst")
    assert analyst.list_cases() == []
    message = "no case 'T-1' that you may open: ask an administrator for access if you need it"
    with pytest.raises(AccessDenied, match=message):
        analyst.open_case(ref)
    # the same words for a case that does not exist: nothing is given away
    with pytest.raises(AccessDenied, match="no case 'T-9' that you may open"):
        analyst.open_case("T-9")
    denied = last(store)
    assert (denied.username, denied.action, denied.case_ref) == ("analyst1", "access_denied",
                                                                  "T-9")
    assert [r.action for r in audit.search(store, action="case_open")] == []


def test_admins_see_every_case_and_are_told_when_one_does_not_exist(store, ref):
    admin = session(store, "admin")
    assert [c.ref for c in admin.list_cases()] == ["T-1"]
    assert admin.open_case(ref).view == "full"
    with pytest.raises(NotFound, match="no case 'T-9' in the database"):
        admin.open_case("T-9")


@pytest.mark.parametrize("role", ["admin", "analyst", "housing", "social_worker", "viewer"])
def test_opening_a_case_gives_the_roles_view_and_is_recorded(store, ref, case, role):
    user = session(store, role, cases=[ref])
    view = user.open_case(ref, purpose="strategy meeting 12 Dec")
    assert view.view == VIEWS[role]
    assert view.version == 1
    assert [c.ref for c in user.list_cases()] == ["T-1"]
    expected = view_of(case, VIEWS[role])
    for layer, (id_column, _, _) in EXPECTED["full"].items():
        assert ids(view.case[layer], id_column) == ids(expected[layer], id_column), layer
        assert seen_columns(view.case[layer]) == seen_columns(expected[layer]), layer
    opened = last(store)
    assert (opened.username, opened.action, opened.case_ref, opened.why) == (
        user.user.username, "case_open", "T-1", "strategy meeting 12 Dec")
    assert opened.what == {"version": 1, "view": VIEWS[role]}


def test_a_viewer_gets_the_meeting_view_only(store, ref):
    viewer = session(store, "viewer", cases=[ref])
    view = viewer.open_case(ref)
    assert view.view == "meeting"
    assert len(view.case["candidates"]) == 0
    assert view.case["people"]["label"].tolist() == ["Subject", "Partner", "Child", "Rival"]
    assert not view.may_edit("zones")
    assert "Meeting view: people are shown by role" in view.note
    # a case title may name the family: a viewer never gets it
    assert [c.title for c in viewer.list_cases()] == [TITLE_WITHHELD]
    assert viewer.case_info(ref).title == TITLE_WITHHELD
    assert view.info.title == TITLE_WITHHELD
    assert set(view.case["case"]["title"]) <= {TITLE_WITHHELD}
    assert session(store, "analyst", cases=[ref]).case_info(ref).title != TITLE_WITHHELD
    with pytest.raises(AccessDenied, match="the viewer role may not see the history"):
        viewer.history(ref)


def test_any_role_may_show_the_meeting_view(store, ref):
    analyst = session(store, "analyst", cases=[ref])
    view = analyst.meeting_view(ref, purpose="strategy meeting")
    assert view.view == "meeting"
    assert last(store).what == {"version": 1, "view": "meeting"}
    shape = gpd.GeoDataFrame({"name": ["round the school"]},
                             geometry=[shapely.Point(383_000, 399_000).buffer(300)], crs=27700)
    assert len(view.screen(shape)) == 0
    assert analyst.open_case(ref).screen(shape) is shape


EDITS = {
    "candidates": lambda: Changes().update("candidates", "C2", {"notes": "viewed"}),
    "people": lambda: Changes().update("people", "P2", {"notes": "moved"}),
    "zones": lambda: Changes().update("zones", "Z1", {"reason": "shops and market"}),
    "incidents": lambda: Changes().update("incidents", "I2", {"confidence": "high"}),
    "activity_areas": lambda: Changes().update("activity_areas", "AR2", {"kind": "territory"}),
    "groups": lambda: Changes().update("groups", "GA", {"name": "Alpha crew"}),
}


@pytest.mark.parametrize("layer", list(EDITS))
@pytest.mark.parametrize("role", ["admin", "analyst", "housing", "social_worker", "viewer"])
def test_each_role_changes_exactly_the_layers_it_may(store, ref, role, layer):
    user = session(store, role, cases=[ref])
    before = change_rows(store)
    if layer in EDITABLE[role]:
        version = user.save_changes(ref, EDITS[layer](), base_version=1, reason="update")
        assert version == 2
        record = last(store)
        assert (record.action, record.why) == ("change", "update")
        assert record.what["version"] == 2
        assert record.what["layers"][layer]["update"]["rows"] == 1
        return
    with pytest.raises(AccessDenied, match=rf"may not change {layer} \(it may change: "):
        user.save_changes(ref, EDITS[layer](), base_version=1, reason="update")
    assert store.case_info(ref).version == 1
    assert change_rows(store) == before
    denied = last(store)
    assert (denied.action, denied.what) == ("access_denied", {"tried": f"change {layer}"})


def test_a_mixed_save_with_one_forbidden_layer_writes_nothing(store, ref):
    housing = session(store, "housing", cases=[ref])
    edits = EDITS["candidates"]()
    edits.update("zones", "Z1", {"reason": "moved"})
    with pytest.raises(AccessDenied, match="the housing role may not change zones"):
        housing.save_changes(ref, edits, base_version=1)
    notes = store.load_case(ref).case["candidates"].set_index("candidate_id")["notes"]
    assert notes.isna().all()
    assert store.case_info(ref).version == 1


def test_replace_layer_follows_the_same_rules(store, ref, case):
    housing = session(store, "housing", cases=[ref])
    view = housing.open_case(ref)
    kept = view.case["candidates"].iloc[:2]
    assert housing.replace_layer(ref, "candidates", kept, base_version=1) == 2
    assert store.load_case(ref).case["candidates"]["candidate_id"].tolist() == ["C1", "C2"]
    with pytest.raises(AccessDenied, match="the housing role may not change addresses"):
        housing.replace_layer(ref, "addresses", view.case["addresses"], base_version=2)
    assert len(store.load_case(ref).case["addresses"]) == 3  # the hidden home survives


@pytest.mark.parametrize("role", ["admin", "analyst", "housing", "social_worker", "viewer"])
def test_exports_and_prints_need_the_right_and_a_purpose(store, ref, role, tmp_path):
    user = session(store, role, cases=[ref])
    if role == "viewer":
        with pytest.raises(AccessDenied, match="the viewer role may not export from cases"):
            user.export(ref, purpose="meeting notes")
        with pytest.raises(AccessDenied, match="the viewer role may not print from cases"):
            user.print_(ref, purpose="meeting notes")
        assert audit.search(store, action="export") == []
        return
    with pytest.raises(InputError, match="say why before you export: a purpose"):
        user.export(ref, purpose="  ")
    with pytest.raises(InputError, match="say why before you print"):
        user.print_(ref, purpose="")
    assert audit.search(store, action="export") == []
    user.export(ref, purpose="referral to Alder Homes", what={"file": "ranked.csv"})
    user.print_(ref, purpose="signing with P2", what={"document": "agreement", "person": "P2"})
    exported, printed = audit.search(store, action="export")[0], last(store)
    assert (exported.why, exported.what) == ("referral to Alder Homes",
                                             {"file": "ranked.csv", "view": VIEWS[role]})
    assert (printed.action, printed.why) == ("print", "signing with P2")
    path = user.export_case(ref, tmp_path / "out.gpkg", purpose="court bundle")
    written = read_case(path)
    assert len(written["people"]) == (3 if role == "housing" else 4)
    assert last(store).what == {"file": "out.gpkg", "format": "gpkg", "version": 1,
                                "view": VIEWS[role]}


def test_only_admins_and_analysts_create_archive_and_undo(store, ref, case):
    analyst = session(store, "analyst")
    housing = session(store, "housing", cases=[ref])
    other = validate_case({**dict(case), "case": pd.DataFrame({"case_ref": ["T-2"]})},
                          now=NOW).case
    with pytest.raises(AccessDenied, match="the housing role may not create cases"):
        housing.create_case(other)
    new = analyst.create_case(other, reason="referral")
    assert [c.ref for c in analyst.list_cases()] == ["T-2"]  # granted to its creator
    assert audit.search(store, action="change")[0].what == {"op": "create", "version": 1}
    with pytest.raises(AccessDenied, match="the housing role may not archive cases"):
        housing.archive_case(ref)
    assert analyst.archive_case(new, reason="closed") == 2
    housing.save_changes(ref, EDITS["candidates"](), base_version=1)
    assert [r.version for r in housing.history(ref)] == [1, 2]
    with pytest.raises(AccessDenied, match="the housing role may not see changed rows"):
        housing.changes_in(ref, 2)
    with pytest.raises(AccessDenied, match="the housing role may not undo changes"):
        housing.undo(ref, 2)
    auth.grant(store, "analyst1", ref, actor="root")
    assert analyst.undo(ref, 2, reason="mistake") == 3
    assert last(store).what["undid"] == 2


def test_a_changed_role_disabled_account_or_revoked_grant_counts_at_once(store, ref):
    user = session(store, "analyst", cases=[ref])
    assert user.open_case(ref).view == "full"
    auth.set_role(store, "analyst1", "viewer", actor="root")
    assert user.open_case(ref).view == "meeting"
    auth.revoke(store, "analyst1", ref, actor="root")
    with pytest.raises(AccessDenied, match="no case 'T-1' that you may open"):
        user.open_case(ref)
    auth.disable_user(store, "analyst1", actor="root")
    with pytest.raises(AccessDenied, match="your account has been disabled"):
        user.list_cases()


def test_only_admins_manage_users_and_read_the_audit_trail(store, ref):
    analyst = session(store, "analyst", cases=[ref])
    admin = session(store, "admin")
    for call in (lambda: analyst.add_user("x1", "viewer"), analyst.list_users,
                 lambda: analyst.grant("analyst1", ref), analyst.audit_search,
                 analyst.audit_verify, lambda: analyst.reset_password("admin1")):
        with pytest.raises(AccessDenied, match="the analyst role may not"):
            call()
    otp = admin.add_user("carol", "housing", display_name="Carol", cases=[ref])
    assert auth.authenticate(store, "carol", otp).role == "housing"
    admin.set_role("carol", "social_worker")
    admin.disable_user("carol")
    assert [u.status for u in admin.list_users() if u.username == "carol"] == ["disabled"]
    assert admin.audit_verify().ok
    found = admin.audit_search(action="access_denied", user="analyst1")
    assert len(found) == 6


def test_sign_out_is_recorded_through_the_session(store, ref):
    user = session(store, "housing", cases=[ref])
    user.sign_out(reason="idle")
    assert (last(store).action, last(store).what) == ("sign_out", {"reason": "idle"})
