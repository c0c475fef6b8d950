"""The map page itself in Chromium, without the app: hostile text in every field of a case
stays text once Leaflet has put it into the page (popups, tooltips, layer names, legend).

The page and its Leaflet files are served from memory by the browser's request routing, so
nothing listens on a port and every other request is aborted and fails the test.
"""

from __future__ import annotations

import pytest

from geo.demo import AS_OF, build_demo_case
from geo.maps import case_map, install_assets, use_local_assets
from geo.rank import rank_case
from geo.sources import policy_for_case
from geo.zones import exclusion_zones
from tests.e2e.conftest import shot
from tests.geo.test_hostile import JINJA, case_with_text

pytestmark = pytest.mark.browser

ORIGIN = "http://map.test"
#: markup that, if it ever became HTML, would count itself in ``window.__xss``
XSS = ("<img src=x onerror=\"window.__xss=(window.__xss||0)+1\">"
       "<svg onload=\"window.__xss=(window.__xss||0)+1\"></svg>")
TEXT = f"{XSS} {JINJA} & \"q\""

#: every popup and tooltip the map binds, put into the page the way Leaflet puts one in
_SHOW_ALL = """() => {
  const map = Object.keys(window).filter(k => /^map_/.test(k)).map(k => window[k])
      .find(v => v && v.eachLayer);
  const box = document.createElement('div');
  box.id = 'all-text';
  let n = 0;
  map.eachLayer(layer => {
    for (const bound of [layer.getPopup && layer.getPopup(),
                         layer.getTooltip && layer.getTooltip()]) {
      const content = bound && bound.getContent();
      if (typeof content === 'string') {
        const part = document.createElement('div');
        part.innerHTML = content;
        box.appendChild(part);
        n += 1;
      }
    }
  });
  document.body.appendChild(box);
  return n;
}"""


@pytest.fixture
def map_page(browser, tmp_path, block_network):
    case = case_with_text(build_demo_case(), TEXT)
    policy = policy_for_case(case)
    ranked = rank_case(case, policy, as_of=AS_OF)
    vendor = install_assets(tmp_path / "vendor", "/app/static/vendor")
    use_local_assets("/app/static/vendor")
    html = case_map(case, policy=policy, zones=exclusion_zones(case, policy, as_of=AS_OF),
                    ranked=ranked, as_of=AS_OF).get_root().render()
    outside: list[str] = []

    def route(r):
        url = r.request.url
        asset = vendor / url.removeprefix(f"{ORIGIN}/app/static/vendor/")
        if url == f"{ORIGIN}/map.html":
            r.fulfill(body=html, content_type="text/html")
        elif url.startswith(f"{ORIGIN}/app/static/vendor/") and asset.is_file():
            r.fulfill(path=str(asset))
        else:
            outside.append(url)
            r.abort()

    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.route("**/*", route)
    pg = context.new_page()
    errors: list[str] = []
    dialogs: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    pg.goto(f"{ORIGIN}/map.html")
    pg.wait_for_selector("path.leaflet-interactive", state="attached")
    yield pg
    context.close()
    assert errors == [], f"JavaScript errors: {errors}"
    assert dialogs == []
    # x is not an asset: the browser asks for it only if the markup became an image
    assert [u for u in outside if not u.endswith("/x")] == []


def test_hostile_text_stays_text_in_the_browser(map_page):
    pg = map_page
    shown = pg.evaluate(_SHOW_ALL)
    assert shown > 20  # the popups and tooltips of areas, incidents, addresses, candidates
    pg.wait_for_timeout(500)  # time for an image error or an onload to fire
    assert pg.evaluate("window.__xss || 0") == 0
    assert pg.locator("img[src='x']").count() == 0
    assert pg.locator("svg[onload]").count() == 0

    everything = pg.locator("#all-text").inner_text()
    for where in ("addresses.label", "incidents.description", "candidates.label",
                  "zones.reason", "groups.name"):
        assert f"{TEXT} {where}." in everything, where

    shot(pg, "90-hostile-text-map")
    layers = pg.locator(".leaflet-control-layers-overlays").text_content()
    assert f"{TEXT} groups.name.0 activity areas" in layers
    legend = pg.locator(".sp-legend").inner_text()
    assert f"{TEXT} groups.name.0" in legend
