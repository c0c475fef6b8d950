"""Sign-in, roles and need-to-know in the app, tried as each kind of user would."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest

from geo import audit, auth
from tests.app.conftest import (
    DEMO,
    PASSWORD,
    ensure_user,
    fresh_app,
    page,
    sign_in,
    store_of,
)

SCREENS = {
    "pages/cases.py": "Cases", "pages/map.py": "Map", "pages/candidates.py": "Candidates",
    "pages/areas.py": "Safe areas and no-go areas", "pages/network.py": "Street network",
    "pages/agreements.py": "Working agreements", "pages/meeting.py": "Meeting view",
    "pages/case_data.py": "Case data", "pages/audit.py": "Audit trail",
}
ALLOWED = {
    "admin": set(SCREENS),
    "analyst": set(SCREENS) - {"pages/audit.py"},
    "housing": {"pages/cases.py", "pages/map.py", "pages/candidates.py", "pages/areas.py",
                "pages/network.py", "pages/meeting.py", "pages/case_data.py"},
    "social_worker": {"pages/cases.py", "pages/map.py", "pages/candidates.py",
                      "pages/areas.py", "pages/agreements.py", "pages/meeting.py",
                      "pages/case_data.py"},
    "viewer": {"pages/meeting.py"},
}


def map_script(at) -> str:
    return " ".join(json.loads(c.proto.json_args)["script"]
                    for c in at.get("component_instance"))


def test_nobody_reaches_a_case_without_signing_in(isolated_settings):
    at = fresh_app()
    assert [t.value for t in at.title] == ["Safe Location Planner"]
    assert not at.get("component_instance")
    assert not at.dataframe
    assert "DEMO-2026-0147" not in " ".join(m.value for m in at.markdown)
    # signed out, the app's navigation holds the sign-in screen and nothing else: every
    # other address is the same sign-in form under that screen's name
    for path in ("pages/map.py", "pages/candidates.py", "pages/meeting.py"):
        with pytest.raises(ValueError, match="Known pages") as info:
            at.switch_page(path)
        known = re.search(r"Known pages: \[(.*)\]", str(info.value)).group(1)
        files = re.findall(r"'([^']*\.py)'", known)
        assert [Path(f).name for f in files] == ["sign_in.py"]


def test_a_wrong_password_says_nothing_about_the_account_and_locks_it(isolated_settings):
    name = ensure_user(isolated_settings, "housing", name="locked-user")
    at = fresh_app()
    messages = set()
    for _ in range(5):
        sign_in(at, name, "not the password at all")
        messages.add(at.error[0].value)
    sign_in(at, "nobody-here", "whatever it is really")
    messages.add(at.error[0].value)
    assert len(messages) == 1  # unknown user, wrong password, locked: one answer
    sign_in(at, name, PASSWORD)  # locked now, even with the right password
    assert at.error
    assert [t.value for t in at.title] == ["Safe Location Planner"]
    store = store_of(isolated_settings)
    assert audit.search(store, user=name, action="locked")
    auth.reset_password(store, name, actor="test")  # an administrator unlocks it
    store.close()


@pytest.mark.parametrize("role", ["admin", "analyst", "housing", "social_worker", "viewer"])
def test_each_role_gets_exactly_its_screens(signed_in, role):
    at = signed_in(role)
    for path, title in SCREENS.items():
        try:
            at.switch_page(path)
        except ValueError:  # not in this role's menu at all
            assert path not in ALLOWED[role], (role, path)
            continue
        at.run()
        assert not at.exception, (role, path)
        titles = [t.value for t in at.title]
        if path in ALLOWED[role]:
            assert title in titles, (role, path)
        else:
            assert "Your role does not give you this screen." in [e.value for e in at.error], (
                role, path)
            assert title not in titles


def test_a_housing_officer_does_not_see_intelligence_detail(signed_in):
    analyst = page(signed_in("analyst"), "pages/map.py")
    assert "Shots fired at front door and window" in map_script(analyst)
    housing = page(signed_in("housing"), "pages/map.py")
    script = map_script(housing)
    assert "Shots fired at front door and window" not in script
    assert "Neighbourhood policing and intelligence reports" not in script  # area source
    assert "Heron (south) activity areas" in script  # the threat picture is still there
    assert any("Need-to-know view for the housing role" in c.value for c in housing.caption)


def test_the_meeting_view_shows_no_relocated_address_and_no_names(signed_in):
    at = page(signed_in("viewer"), "pages/meeting.py")
    script = map_script(at)
    shown = script + " ".join(str(d.value.to_dict()) for d in at.dataframe)
    for secret in ("Emergency placement", "BL1 1RF", "Vacancy V-", "Leanne Ashdown",
                   "Carl Brenwick", "Kayla Dorrit", "Hollinvale"):
        assert secret not in shown, secret
    assert "Heron (south) activity areas" in script  # the threat picture is there
    people = at.dataframe[0].value
    assert "Partner" in set(people["person"])


@pytest.mark.parametrize("role", ["viewer", "analyst"])
def test_the_meeting_view_shows_no_case_title(signed_in, role):
    """A title may name the family ("Operation ..." here); the shared screen shows none."""
    at = page(signed_in(role), "pages/meeting.py")
    words = " ".join(m.value for m in at.markdown)
    assert "OFFICIAL-SENSITIVE" in words
    assert "DEMO-2026-0147" in words
    assert "Larkspur" not in words
    assert all("Larkspur" not in o
               for o in at.selectbox(key="sidebar_case_no_titles").options)
    if role == "analyst":  # on the other screens the analyst sees the title
        page(at, "pages/map.py")
        assert "Larkspur" in " ".join(m.value for m in at.markdown)


def test_one_time_password_must_be_changed_first(isolated_settings):
    at = fresh_app()
    store = store_of(isolated_settings)
    otp = auth.reset_password(store, "demo", actor="test")
    store.close()
    sign_in(at, "demo", otp)
    assert [t.value for t in at.title] == ["Choose your password"]
    at.text_input(key="pw_old").set_value(otp)
    at.text_input(key="pw_new").set_value("a fresh pass phrase of mine")
    at.text_input(key="pw_again").set_value("a fresh pass phrase of mine")
    at.get("form_submit_button")[0].click()
    at.run()
    assert not at.exception
    assert at.session_state["_user"].must_change_password is False
    # on to the Cases screen, with the message and no password left in any field
    assert [t.value for t in at.title] == ["Cases"]
    assert "Your password is changed." in [s.value for s in at.success]
    assert not any(t.value for t in at.text_input)


def test_an_idle_session_is_signed_out(signed_in, isolated_settings):
    at = signed_in("analyst")
    assert [t.value for t in at.title] == ["Cases"]
    at.session_state["_last_seen"] = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    at.run()
    assert [t.value for t in at.title] == ["Safe Location Planner"]
    assert "signed out after 30 minutes" in at.warning[0].value
    store = store_of(isolated_settings)
    reasons = [r.what.get("reason") for r in audit.search(store, user="analyst-user",
                                                           action="sign_out")]
    store.close()
    assert "idle" in reasons


def test_supervisors_search_and_verify_the_audit_trail(signed_in):
    at = page(signed_in("admin"), "pages/audit.py")
    table = at.dataframe[0].value
    assert {"sign_in", "case_open"} <= set(table["action"])
    assert "admin-user" in set(table["user"])
    at.button(key="audit_verify").click().run()
    assert at.success[0].value.startswith("Intact: ")


def test_a_social_worker_edits_zones_but_only_reads_incidents(signed_in):
    at = page(signed_in("social_worker"), "pages/case_data.py")
    at.selectbox(key="data_layer").set_value("incidents").run()
    assert any("Your role reads this layer" in c.value for c in at.caption)
    at.selectbox(key="data_layer").set_value("zones").run()
    assert not any("Your role reads this layer" in c.value for c in at.caption)


def test_creating_a_case_is_for_analysts_only(signed_in):
    at = page(signed_in("housing"), "pages/cases.py")
    assert "New case" not in [s.value for s in at.subheader]
    at = page(signed_in("analyst"), "pages/cases.py")
    assert "New case" in [s.value for s in at.subheader]


def test_a_user_without_the_case_sees_no_case(isolated_settings):
    name = ensure_user(isolated_settings, "housing", cases=(), name="nocase-user")
    at = fresh_app()
    sign_in(at, name)
    assert [t.value for t in at.title] == ["Cases"]
    assert any("No case is shared with you yet" in i.value for i in at.info)
    assert DEMO not in " ".join(m.value for m in at.markdown)
    at.switch_page("pages/map.py").run()
    assert not at.get("component_instance")


def test_signing_out_also_ends_the_providers_sign_in(isolated_settings, monkeypatch):
    """With OpenID Connect, the provider's sign-in is a cookie: a sign-out (or an idle
    timeout) must end it too, or the sign-in screen lets the same person straight back in."""
    import types

    import streamlit
    from streamlit.testing.v1 import AppTest

    from ui import session

    logged_out = []
    monkeypatch.setattr(session, "oidc_configured", lambda: True)
    monkeypatch.setattr(streamlit, "user", types.SimpleNamespace(is_logged_in=True,
                                                                 email="a@example.org"))
    monkeypatch.setattr(streamlit, "logout", lambda: logged_out.append(True))

    def script():
        from geo.auth import User
        from ui import session

        session.st.session_state[session.USER_KEY] = User("oidc-user", "O", "analyst", False)
        session.sign_out(reason="idle")

    at = AppTest.from_function(script, default_timeout=60).run()
    assert not at.exception, at.exception
    assert logged_out == [True]


def test_a_role_change_or_disabled_account_reaches_an_open_session(signed_in,
                                                                    isolated_settings):
    from tests.app.conftest import ensure_user

    signed_in("analyst")  # the store and the demo case are set up
    name = ensure_user(isolated_settings, "analyst", name="changing-analyst")
    at = page(sign_in(fresh_app(), name), "pages/map.py")
    assert not at.error
    store = store_of(isolated_settings)
    try:
        auth.set_role(store, name, "viewer", actor="test")
        page(at, "pages/map.py")
        assert at.session_state["_user"].role == "viewer"
        assert "Your role does not give you this screen." in [e.value for e in at.error]
        auth.disable_user(store, name, actor="test")
        at.run()
        assert "_user" not in at.session_state
        assert any("disabled" in w.value for w in at.warning)
    finally:
        auth.enable_user(store, name, actor="test")
        auth.set_role(store, name, "analyst", actor="test")
        store.close()
