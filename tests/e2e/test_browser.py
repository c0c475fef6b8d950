"""The app as a user meets it, in Chromium: it opens on the demo case, the map draws, a
candidate explains itself, a weight changes the order, a drawn zone is saved."""

from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import PASSWORD, settle, shot, sign_in

pytestmark = pytest.mark.browser

MAP_FRAME = 'iframe[title="streamlit_folium.st_folium"]'


def open_screen(pg, name: str, marker: str) -> None:
    pg.get_by_role("link", name=name).first.click()
    settle(pg, marker)


def map_frame(pg, index: int = 0):
    handle = pg.locator(MAP_FRAME).nth(index)
    handle.wait_for(state="attached")
    frame = handle.element_handle().content_frame()
    frame.wait_for_selector("path.leaflet-interactive", state="attached")
    return frame


def test_nobody_reaches_a_case_without_signing_in(page):
    for path in ("", "map", "candidates", "meeting"):
        page.goto(f"{page.app_url}/{path}")
        settle(page, "Sign in")
        page.get_by_label("User name").wait_for(state="visible")
        assert page.get_by_text("DEMO-2026-0147").count() == 0
        assert page.locator(MAP_FRAME).count() == 0
        assert page.get_by_text("Page not found").count() == 0  # a reload lands here too
    shot(page, "00-sign-in")


def test_a_screens_address_signs_in_to_that_screen(page):
    page.goto(f"{page.app_url}/candidates")  # a bookmark, or a reload after the session ended
    settle(page, "Sign in")
    page.get_by_label("User name").fill("e2e-analyst")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    settle(page, "OFFICIAL-SENSITIVE")
    page.get_by_role("heading", name="Candidates", exact=True).wait_for(state="visible")


def test_first_start_demo_user_chooses_a_password_then_signs_out(page, accounts):
    sign_in(page, "demo", accounts["demo_otp"])
    settle(page, "Choose your password")
    page.get_by_label("Current password").fill(accounts["demo_otp"])
    page.get_by_label("New password", exact=True).fill("a phrase only I would choose")
    page.get_by_label("New password again").fill("a phrase only I would choose")
    page.get_by_role("button", name="Change password").click()
    settle(page, "OFFICIAL-SENSITIVE")
    assert page.get_by_role("link", name="Cases").first.is_visible()
    # straight on to the Cases screen, told the password is changed
    page.get_by_role("heading", name="Cases").wait_for(state="visible")
    assert page.get_by_text("Your password is changed.").is_visible()
    page.get_by_role("button", name="Sign out").click()
    settle(page, "Sign in")
    page.get_by_label("User name").wait_for(state="visible")


def test_a_viewer_sees_the_meeting_view_only(page):
    sign_in(page, "e2e-viewer")
    settle(page, "Meeting view")
    assert page.get_by_role("link", name="Map").count() == 0
    frame = map_frame(page)
    text = frame.locator("body").inner_text() + page.locator("body").inner_text()
    for secret in ("Emergency placement", "Leanne Ashdown", "Vacancy V-"):
        assert secret not in text
    assert frame.locator("div.sp-rank").count() == 0
    shot(page, "10-meeting-view")


def test_the_app_opens_on_the_demo_case(page):
    sign_in(page, "e2e-analyst")
    settle(page, "OFFICIAL-SENSITIVE")
    assert page.get_by_text("DEMO-2026-0147", exact=False).first.is_visible()
    for name in ("Cases", "Map", "Candidates", "Safe areas", "Agreements", "Case data"):
        assert page.get_by_role("link", name=name).first.is_visible()
    shot(page, "01-cases")


def test_the_map_draws_every_layer_offline(page):
    sign_in(page, "e2e-analyst")
    settle(page, "OFFICIAL-SENSITIVE")
    open_screen(page, "Map", "Draw a zone")
    frame = map_frame(page)
    paths = frame.locator("path.leaflet-interactive").count()
    assert paths > 100  # sectors, areas, zones, hot spots, candidates
    assert frame.locator("div.sp-rank").count() == 20  # the top candidates, numbered
    assert frame.locator("div.sp-addr").count() == 12  # every linked address
    legend = frame.locator(".sp-legend").inner_text()
    assert "Heron (south)" in legend
    assert "Known to rivals" in legend
    layers = frame.locator(".leaflet-control-layers-overlays").inner_text()
    assert "Exclusion zones and no-go areas" in layers
    assert "Incident heat map" in layers
    assert frame.locator(".leaflet-control-scale").count() == 1
    shot(page, "02-map")


def test_clicking_a_candidate_shows_its_reasons(page):
    sign_in(page, "e2e-analyst")
    settle(page, "OFFICIAL-SENSITIVE")
    open_screen(page, "Candidates", "Best now:")
    frame = map_frame(page)
    frame.locator("div.sp-rank", has_text=re.compile(r"^1$")).first.click(force=True)
    settle(page)
    why = page.get_by_text(re.compile(r"^Eligible\. Nearest threat: ")).first
    why.wait_for(state="visible")
    assert "School run" in why.inner_text()
    shot(page, "03-candidate-explained")


def best(page) -> str:
    return page.get_by_text(re.compile(r"^Best now: ")).first.inner_text()


def test_moving_a_weight_changes_the_order(page):
    sign_in(page, "e2e-analyst")
    settle(page, "OFFICIAL-SENSITIVE")
    open_screen(page, "Candidates", "Best now:")
    before = best(page)
    sliders = page.get_by_role("slider")
    threat = sliders.nth(0)
    threat.focus()
    threat.press("Home")  # threat weight to 0: only school run and support count
    settle(page)
    page.wait_for_function(
        "(old) => [...document.querySelectorAll('[data-testid=\"stText\"]')]"
        ".some(e => e.innerText.startsWith('Best now: ') && e.innerText !== old)",
        arg=before)
    assert best(page) != before
    shot(page, "04-weights-moved")


def test_tables_have_no_unrecorded_csv_download(page):
    sign_in(page, "e2e-analyst")
    settle(page, "OFFICIAL-SENSITIVE")
    open_screen(page, "Candidates", "Best now:")
    page.locator('[data-testid="stDataFrame"]').first.hover()
    toolbar = page.locator('[data-testid="stElementToolbar"]').first
    toolbar.get_by_role("button", name="Search").wait_for(state="visible")
    assert toolbar.get_by_role("button", name="Download as CSV").count() == 0
    # the screen's own download asks for a purpose (recorded) first
    page.get_by_role("button", name="Prepare: Download the ranking (CSV)").wait_for()


def test_a_drawn_zone_is_saved(page):
    sign_in(page, "e2e-analyst")
    settle(page, "OFFICIAL-SENSITIVE")
    open_screen(page, "Map", "Draw a zone")
    frame = map_frame(page)
    frame.locator("a.leaflet-draw-draw-polygon").click()
    box = page.locator(MAP_FRAME).first.bounding_box()
    cx, cy = box["x"] + box["width"] * 0.55, box["y"] + box["height"] * 0.35
    for dx, dy in ((0, 0), (70, 0), (70, 60), (0, 60)):
        page.mouse.click(cx + dx, cy + dy)
        page.wait_for_timeout(400)  # quicker clicks would read as a double click
    frame.get_by_text("Finish", exact=True).click()
    settle(page, "Drawn area:")
    page.get_by_label("Reason (required)").fill("Market where rivals were seen <b>today</b>")
    page.get_by_role("button", name="Save the zone").click()
    settle(page, "Saved Z-001: it is on the map")
    shot(page, "05-zone-saved")


def test_every_screen_renders_without_errors(page):
    sign_in(page, "e2e-analyst")
    settle(page, "OFFICIAL-SENSITIVE")
    for name, marker, file in (("Safe areas", "Suggested safe areas", "06-safe-areas"),
                               ("Agreements", "Download the annex (PDF)", "07-agreements"),
                               ("Street network", "No street file yet", "08-network"),
                               ("Case data", "Import rows from a file", "09-case-data")):
        open_screen(page, name, marker)
        assert page.locator('[data-testid="stException"]').count() == 0
        shot(page, file)


def test_the_server_is_guarded_against_outbound_connections(app_server, tmp_path):
    """The guard the server runs under really refuses (and records) an outbound attempt:
    a Python started the same way cannot reach an outside address."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    log = tmp_path / "outbound.log"
    guard = Path(__file__).parent / "netguard"
    env = dict(os.environ, SAFEPLAN_NETGUARD_LOG=str(log), PYTHONPATH=str(guard))
    code = ("import socket\ntry:\n    socket.create_connection(('192.0.2.1', 443), 1)\n"
            "except OSError as e:\n    print(e)")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True)
    assert "refused by the test guard: 192.0.2.1" in out.stdout
    assert log.read_text().split() == ["192.0.2.1"]


#: Markdown and HTML that, if the app rendered it, would fetch from or link to another host
#: (the page fixture fails the test on any request that leaves the app)
MARKDOWN = ("![t](http://evil.example/pixel.png) [click](http://evil.example/) **bold** "
            "<img src=http://evil.example/x.png> $x^2$ :red[red] www.evil.example")


def test_hostile_text_in_a_case_is_shown_as_typed(page, app_server):
    from geo import auth
    from geo.demo import build_demo_case
    from tests.e2e.conftest import PASSWORD

    case = build_demo_case()
    people = case["people"].copy()
    people["label"] = [f"{MARKDOWN} {pid}" for pid in people["person_id"]]
    case = case.replace(case=case["case"].assign(case_ref="HOSTILE-1", title=MARKDOWN),
                        people=people)
    with app_server.store() as store:
        ref = store.create_case(case, actor="e2e set-up")
        otp = auth.add_user(store, "e2e-hostile", "analyst", actor="e2e set-up",
                            display_name=MARKDOWN, cases=(ref,))
        auth.change_password(store, "e2e-hostile", otp, PASSWORD)

    sign_in(page, "e2e-hostile")
    settle(page, "OFFICIAL-SENSITIVE")
    banner = page.get_by_text(f"HOSTILE-1: {MARKDOWN}").first
    banner.wait_for(state="visible")  # the case title, as typed
    assert f"Signed in as {MARKDOWN}, analyst" in text_of(page, r"^Signed in as ")
    open_screen(page, "Candidates", "Best now:")
    assert f"{MARKDOWN} P02" in text_of(page, r"candidates are eligible for")
    open_screen(page, "Agreements", "Download the annex (PDF)")
    assert text_of(page, r"no-go area\(s\) covering").startswith(MARKDOWN)
    shot(page, "10-hostile-text")
    assert page.locator("a[href*='evil.example']").count() == 0
    assert page.locator("img[src*='evil.example']").count() == 0
    assert page.locator("strong", has_text="bold").count() == 0


def text_of(page, pattern: str) -> str:
    """The text of the first element matching ``pattern``, as a person reads it (without the
    invisible word joiners that keep a web address in a name from becoming a link)."""
    found = page.get_by_text(re.compile(pattern)).first
    found.wait_for(state="visible")
    return found.inner_text().replace("\u2060", "")
