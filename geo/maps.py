"""The case on one folium map, readable at a glance and working with no internet at all.

:func:`case_map` draws every layer of a case as its own group in the layer control, with a
legend: activity areas coloured by group, incidents with a symbol per kind faded by age,
linked addresses with their relation to the subject (those known to rivals marked), schools
and support, exclusion zones with their reasons, derived hot spots, candidates coloured by
eligibility and numbered by rank, safe areas, and an incident heat map that can be switched
on. There is no tile server by default: the base map is the offline postcode-sector outline
layer (:func:`geo.geocode.sector_outlines`) with its labels.

Every user-supplied string that reaches the map's HTML (popups, tooltips, the legend, layer
names) goes through :func:`esc`: HTML-escaped, and with its braces as character references.
The braces matter because branca renders each element's script and then compiles the result
as a Jinja template again, so text holding ``{{ ... }}`` would be run on the server. This
module's own elements (:class:`_Script`) add their finished script verbatim instead, which is
also most of the time a map takes to render.

Assets
------
folium loads Leaflet and its plugins from CDNs. :func:`use_local_assets` rewrites every
asset URL of every folium element to files served by the app, taken from installed packages
(:func:`asset_files`: Leaflet and Leaflet.draw from ``django-leaflet``, jQuery (folium's
popups use it) from the Django it installs, the heat map from ``folium``); elements whose
files are not available here are not used by this module.
"""

from __future__ import annotations

import datetime as dt
import html
import importlib.util
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import folium
import folium.plugins
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import Element, MacroElement
from jinja2 import Template

from geo.crs import WGS84
from geo.model import Case
from geo.settings import Policy

GROUP_PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
ELIGIBLE = "#1a9850"
INELIGIBLE = "#7f7f7f"
EXCLUSION = "#c51b7d"
HOTSPOT = "#6a3d9a"
SAFE_AREA = "#1b9e77"

#: Incident kinds: (symbol shape, colour, words).
INCIDENT_STYLE = {
    "shooting": ("crosshair", "#b2182b", "Shooting"),
    "firearm_discharge": ("crosshair", "#ef6548", "Firearm discharge"),
    "stabbing": ("diamond", "#6a51a3", "Stabbing"),
    "assault": ("triangle", "#8c510a", "Assault"),
    "arson": ("flame", "#e6550d", "Arson"),
    "threat": ("square", "#b8860b", "Threat"),
    "other": ("dot", "#636363", "Other incident"),
}
#: Address kinds: (letter, fill, words).
ADDRESS_STYLE = {
    "home": ("H", "#fdd0a2", "Home"),
    "former_home": ("F", "#fdd0a2", "Former home"),
    "family": ("R", "#fdd0a2", "Relative"),
    "associate": ("A", "#fdd0a2", "Associate"),
    "business": ("B", "#fdd0a2", "Business"),
    "temporary": ("T", "#c6dbef", "Temporary placement"),
    "school": ("S", "#9ecae1", "School"),
    "support": ("+", "#c7e9c0", "Support"),
}
LAYER_TITLES = {
    "sectors": "Postcode sectors (approximate)",
    "sector_labels": "Postcode sector labels",
    "boundaries": "Named boundaries",
    "zones": "Exclusion zones and no-go areas",
    "hotspots": "Derived hot spots",
    "incidents": "Incidents",
    "heat": "Incident heat map",
    "addresses": "Linked addresses",
    "destinations": "Schools and support",
    "candidates": "Candidates",
    "safe_areas": "Suggested safe areas",
}


# ---------------------------------------------------------------------------------------------
# assets served by the app


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(spec.submodule_search_locations[0])


def asset_files() -> dict[str, Path]:
    """Local asset files by the path they are served under (relative to the asset base)."""
    files: dict[str, Path] = {}
    leaflet = _package_dir("leaflet")
    if leaflet is not None:
        root = leaflet / "static" / "leaflet"
        for rel in ("leaflet.js", "leaflet.css", "draw/leaflet.draw.js",
                    "draw/leaflet.draw.css"):
            files[f"leaflet/{rel}"] = root / rel
        for folder in ("images", "draw/images"):
            for image in sorted((root / folder).glob("*")):
                files[f"leaflet/{folder}/{image.name}"] = image
    django = _package_dir("django")
    if django is not None:  # installed with django-leaflet; folium's popups need jQuery
        files["jquery/jquery.min.js"] = (django / "contrib" / "admin" / "static" / "admin" / "js"
                                         / "vendor" / "jquery" / "jquery.min.js")
    fol = _package_dir("folium")
    if fol is not None:
        files["heat/leaflet_heat.min.js"] = fol / "templates" / "leaflet_heat.min.js"
    return {k: v for k, v in files.items() if v.exists()}


def _asset_urls(base: str) -> dict[str, list[tuple[str, str]] | dict]:
    b = base.rstrip("/")
    return {
        "map_js": [("leaflet", f"{b}/leaflet/leaflet.js"),
                   ("safeplan_setup", f"{b}/safeplan-setup.js"),
                   ("jquery", f"{b}/jquery/jquery.min.js")],
        "map_css": [("leaflet_css", f"{b}/leaflet/leaflet.css"),
                    ("safeplan_css", f"{b}/safeplan.css")],
        "draw_js": [("leaflet_draw_js", f"{b}/leaflet/draw/leaflet.draw.js")],
        "draw_css": [("leaflet_draw_css", f"{b}/leaflet/draw/leaflet.draw.css")],
        "heat_js": [("leaflet-heat.js", f"{b}/heat/leaflet_heat.min.js")],
    }


def setup_script(base: str) -> str:
    """JavaScript run right after Leaflet: where its default marker images are."""
    return f"L.Icon.Default.imagePath = {json.dumps(base.rstrip('/') + '/leaflet/images/')};\n"


#: The page style of the map: a plain background instead of tiles, readable labels.
MAP_CSS = """
.leaflet-container { background: #f4f3ee; font-family: system-ui, sans-serif; }
.sp-icon { background: none; border: none; }
.sp-label { color: #555; font-size: 11px; font-weight: 600; white-space: nowrap;
  text-shadow: 0 0 3px #fff, 0 0 3px #fff; pointer-events: none; }
.sp-rank { background: #1a9850; color: #fff; border: 2px solid #fff; border-radius: 50%;
  width: 22px; height: 22px; line-height: 18px; text-align: center; font: 700 11px
  system-ui, sans-serif; box-shadow: 0 0 2px #000; }
.sp-addr { border: 2px solid #333; border-radius: 3px; width: 18px; height: 18px;
  line-height: 15px; text-align: center; font: 700 11px system-ui, sans-serif; color: #222; }
.sp-addr.sp-known { border-color: #b2182b; box-shadow: 0 0 0 2px #fff, 0 0 0 4px #b2182b; }
.sp-legend { background: rgba(255,255,255,.93); padding: 4px 8px; border-radius: 6px;
  box-shadow: 0 1px 4px rgba(0,0,0,.35); font: 11px/1.3 system-ui, sans-serif;
  max-height: 42vh; overflow-y: auto; max-width: 320px; }
.sp-legend summary { cursor: pointer; font-weight: 700; font-size: 12px; }
.sp-legend h4 { margin: 5px 0 1px; font-size: 11px; color: #333; }
.sp-legend .row { display: flex; align-items: center; gap: 5px; white-space: nowrap; }
.sp-legend .rows { display: grid; grid-template-columns: auto auto; column-gap: 10px; }
.sp-legend .sw { width: 14px; height: 12px; display: inline-block; border: 1px solid #555; }
.sp-popup { font: 12px/1.4 system-ui, sans-serif; max-width: 320px; }
.sp-popup b { font-weight: 600; }
"""


def use_local_assets(base: str) -> None:
    """Make every folium element load its files from ``base`` (a URL path) instead of CDNs.

    Start-up configuration: call once, before any map is drawn. Elements whose files are not
    served are left pointing nowhere (an empty list), so nothing is ever fetched from outside.
    """
    from folium.elements import JSCSSMixin

    urls = _asset_urls(base)
    local = {
        folium.Map: (urls["map_js"], urls["map_css"]),
        folium.plugins.Draw: (urls["draw_js"], urls["draw_css"]),
        folium.plugins.HeatMap: (urls["heat_js"], []),
    }

    def walk(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from walk(sub)

    for cls in walk(JSCSSMixin):
        if "default_js" not in cls.__dict__ and "default_css" not in cls.__dict__:
            continue
        js, css = local.get(cls, ([], []))
        cls.default_js = list(js)
        cls.default_css = list(css)


def install_assets(folder: str | Path, base: str) -> Path:
    """Copy the asset files into ``folder`` (served at ``base``); return the folder."""
    import shutil

    folder = Path(folder)
    for rel, src in asset_files().items():
        dest = folder / rel
        if not dest.exists() or dest.stat().st_size != src.stat().st_size:
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dest)
    (folder / "safeplan-setup.js").write_text(setup_script(base))
    (folder / "safeplan.css").write_text(MAP_CSS)
    return folder


# ---------------------------------------------------------------------------------------------
# building blocks


def esc(value: object) -> str:
    """Text for HTML: escaped, braces too (never a Jinja delimiter), missing values as ''."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    try:
        if pd.isna(value):
            return ""
    except (TypeError, ValueError):
        pass
    return html.escape(str(value), quote=True).translate(_BRACES)


_BRACES = str.maketrans({"{": "&#123;", "}": "&#125;"})


def _group(name: str, *, show: bool = True) -> folium.FeatureGroup:
    """A layer for the layer control, which shows its name as HTML: escaped here."""
    return folium.FeatureGroup(name=esc(name), show=show)


def popup_html(title: str, rows: Iterable[tuple[str, object]]) -> str:
    """A small table of escaped values under an escaped title."""
    body = "".join(
        f"<tr><td style='color:#666;padding-right:8px;vertical-align:top'>{esc(k)}</td>"
        f"<td>{esc(v)}</td></tr>"
        for k, v in rows if esc(v) != ""
    )
    return f"<div class='sp-popup'><b>{esc(title)}</b><table>{body}</table></div>"


def _round(geom: shapely.Geometry, precision: float = 1e-6) -> shapely.Geometry:
    """Coordinates rounded (1e-6 degrees is about 10 cm): smaller pages, no visible change."""
    return shapely.set_precision(geom, precision) if geom is not None else geom


def _svg(shape: str, colour: str, opacity: float, size: int = 18) -> str:
    c = colour
    o = f"{opacity:.2f}"
    half = size / 2
    if shape == "crosshair":
        body = (f"<circle cx='{half}' cy='{half}' r='{half - 2}' fill='{c}' fill-opacity='{o}' "
                f"stroke='#fff' stroke-width='1.5'/>"
                f"<path d='M{half} 2V{size - 2}M2 {half}H{size - 2}' stroke='#fff' "
                f"stroke-width='1.5'/>")
    elif shape == "diamond":
        body = (f"<path d='M{half} 1L{size - 1} {half}L{half} {size - 1}L1 {half}Z' fill='{c}' "
                f"fill-opacity='{o}' stroke='#fff' stroke-width='1.5'/>")
    elif shape == "triangle":
        body = (f"<path d='M{half} 1L{size - 1} {size - 2}H1Z' fill='{c}' fill-opacity='{o}' "
                f"stroke='#fff' stroke-width='1.5'/>")
    elif shape == "flame":
        body = (f"<path d='M{half} 1C{size} {half} {size - 2} {size - 1} {half} {size - 1}"
                f"C2 {size - 1} 0 {half} {half} 1Z' fill='{c}' fill-opacity='{o}' "
                f"stroke='#fff' stroke-width='1.5'/>")
    elif shape == "square":
        body = (f"<rect x='2' y='2' width='{size - 4}' height='{size - 4}' fill='{c}' "
                f"fill-opacity='{o}' stroke='#fff' stroke-width='1.5'/>"
                f"<text x='{half}' y='{size - 5}' font-size='11' font-weight='700' "
                f"text-anchor='middle' fill='#fff'>!</text>")
    else:
        body = (f"<circle cx='{half}' cy='{half}' r='{half / 2}' fill='{c}' fill-opacity='{o}' "
                f"stroke='#fff' stroke-width='1.5'/>")
    return (f"<svg xmlns='http://www.w3.org/2000/svg' width='{size}' height='{size}' "
            f"viewBox='0 0 {size} {size}'>{body}</svg>")


class _Verbatim(Element):
    """Finished script text, added to the page as it is."""

    _template = Template("{{ this.text }}")

    def __init__(self, text: str):
        super().__init__()
        self.text = text


class _Script(MacroElement):
    """An element with only a ``script`` macro, whose output joins the page verbatim.

    branca's ``MacroElement.render`` wraps each rendered script in ``Element(text)``, which
    compiles the text as a Jinja template: slow for the large JSON these elements carry (most
    of a map's render time), and it would evaluate any ``{{ }}`` inside it."""

    def render(self, **kwargs):
        script = self._template.module.__dict__["script"]
        self.get_root().script.add_child(_Verbatim(script(self, kwargs)), name=self.get_name())


class _Legend(_Script):
    """A legend drawn as a Leaflet control (bottom right)."""

    _template = Template("""
{% macro script(this, kwargs) %}
(function() {
  var legend = L.control({position: 'bottomright'});
  legend.onAdd = function() {
    var div = L.DomUtil.create('div', 'sp-legend');
    div.innerHTML = {{ this.content|tojson }};
    // open on a wide map, folded on a narrow one so it does not hide the case
    var map = {{ this._parent.get_name() }};
    if (map.getSize().x < 900) { div.querySelector('details').removeAttribute('open'); }
    L.DomEvent.disableScrollPropagation(div);
    L.DomEvent.disableClickPropagation(div);
    return div;
  };
  legend.addTo({{ this._parent.get_name() }});
})();
{% endmacro %}
""")

    def __init__(self, content: str):
        super().__init__()
        self._name = "Legend"
        self.content = content


class _LabelZoom(_Script):
    """Show each postcode-sector label only from the zoom at which its sector is wide enough
    to hold it (its ``data-z``), so labels never pile up in a city centre."""

    _template = Template("""
{% macro script(this, kwargs) %}
(function() {
  var map = {{ this._parent.get_name() }};
  function toggle() {
    var z = map.getZoom();
    map.getContainer().querySelectorAll('.sp-label').forEach(function(el) {
      el.style.display = z >= parseFloat(el.getAttribute('data-z') || '12') ? '' : 'none';
    });
  }
  map.on('zoomend', toggle);
  map.whenReady(function() { setTimeout(toggle, 0); });
})();
{% endmacro %}
""")

    def __init__(self):
        super().__init__()
        self._name = "LabelZoom"


#: Width of a sector label in screen pixels, and the zooms at which labels may show.
_LABEL_PX = 56
_LABEL_ZOOMS = (12.0, 12.5, 13.0, 13.5, 14.0, 14.5, 15.0)


def label_zoom(width_m: np.ndarray, lat: float = 53.5) -> np.ndarray:
    """The lowest zoom (of :data:`_LABEL_ZOOMS`) at which a label fits in a shape this wide:
    Web Mercator shows ``156543 * cos(lat) / 2**z`` metres per pixel."""
    zooms = np.asarray(_LABEL_ZOOMS)
    metres_per_px = 156_543.0 * np.cos(np.radians(lat)) / 2.0 ** zooms
    fits = np.asarray(width_m, dtype=float)[:, None] >= _LABEL_PX * metres_per_px[None, :]
    first = np.where(fits.any(axis=1), fits.argmax(axis=1), len(zooms) - 1)
    return zooms[first]


def _legend_html(items: list[tuple[str, list[tuple[str, str]]]]) -> str:
    parts = ["<details open><summary>Legend</summary>"]
    for heading, rows in items:
        if not rows:
            continue
        parts.append(f"<h4>{esc(heading)}</h4><div class='rows'>")
        parts.extend(f"<div class='row'>{symbol}<span>{esc(text)}</span></div>"
                     for symbol, text in rows)
        parts.append("</div>")
    return "".join(parts) + "</details>"


def _swatch(fill: str, *, border: str = "#555", dash: bool = False, alpha: float = 0.35) -> str:
    style = "dashed" if dash else "solid"
    return (f"<span class='sw' style='background:{fill};opacity:{0.4 + alpha};"
            f"border:1px {style} {border}'></span>")


def _wgs(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return gdf.to_crs(WGS84)


def _group_colours(case: Case) -> dict[str, str]:
    groups = case["groups"]
    out = {}
    for i, row in enumerate(groups.itertuples()):
        colour = row.colour if isinstance(row.colour, str) and row.colour.startswith("#") else (
            GROUP_PALETTE[i % len(GROUP_PALETTE)])
        out[str(row.group_id)] = colour
    return out


def script_json(value) -> str:
    """JSON that is safe inside an HTML ``<script>``: ``<``, ``>``, ``&`` and quotes as
    escapes, like Jinja's ``tojson`` (so no string can close the script)."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return (text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("'", "\\u0027").replace("\u2028", "\\u2028")
            .replace("\u2029", "\\u2029"))


class _Shapes(_Script):
    """Many polygons as one GeoJSON layer: each feature with its style, popup and tooltip
    (already escaped), drawn by one loop in the browser instead of one folium object each."""

    _template = Template("""
{% macro script(this, kwargs) %}
(function() {
  var layer = L.geoJSON({{ this.data_json }}, {
    interactive: {{ this.interactive|tojson }},
    style: function(f) { return f.properties.style; },
    onEachFeature: function(f, l) {
      if (f.properties.popup) { l.bindPopup(f.properties.popup, {maxWidth: 340}); }
      if (f.properties.tooltip) { l.bindTooltip(f.properties.tooltip, {sticky: true}); }
    }
  });
  layer.addTo({{ this._parent.get_name() }});
})();
{% endmacro %}
""")

    def __init__(self, features: list[dict] | str, *, interactive: bool = True):
        super().__init__()
        self._name = "Shapes"
        self.data_json = features if isinstance(features, str) else script_json(
            {"type": "FeatureCollection", "features": features})
        self.interactive = interactive


class _Points(_Script):
    """Many points as one loop in the browser: circle markers or HTML icons, each with its
    popup and tooltip (already escaped)."""

    _template = Template("""
{% macro script(this, kwargs) %}
(function() {
  var group = {{ this._parent.get_name() }};
  {{ this.items_json }}.forEach(function(it) {
    var m;
    if (it.html) {
      m = L.marker([it.lat, it.lon], {
        icon: L.divIcon({html: it.html, className: 'sp-icon', iconSize: it.size,
                         iconAnchor: [it.size[0] / 2, it.size[1] / 2]}),
        zIndexOffset: it.z || 0, interactive: it.interactive !== false,
        keyboard: false});
    } else {
      m = L.circleMarker([it.lat, it.lon], it.style);
    }
    if (it.popup) { m.bindPopup(it.popup, {maxWidth: 340}); }
    if (it.tooltip) { m.bindTooltip(it.tooltip); }
    m.addTo(group);
  });
})();
{% endmacro %}
""")

    def __init__(self, items: list[dict] | str):
        super().__init__()
        self._name = "Points"
        self.items_json = items if isinstance(items, str) else script_json(items)


def _shape_features(gdf: gpd.GeoDataFrame, style, popup, tooltip, *,
                    precision: float = 1e-6) -> list[dict]:
    """GeoJSON features (WGS84) with a style, an escaped popup and tooltip per row."""
    features = []
    for row, shape in zip(gdf.itertuples(), _wgs(gdf).geometry, strict=True):
        if shape is None or shape.is_empty:
            continue
        features.append({
            "type": "Feature",
            "geometry": json.loads(shapely.to_geojson(_round(shape, precision))),
            "properties": {"style": style(row), "popup": popup(row),
                           "tooltip": esc(tooltip(row))},
        })
    return features


def _add_shapes(fg, gdf: gpd.GeoDataFrame, style, popup, tooltip) -> None:
    _Shapes(_shape_features(gdf, style, popup, tooltip)).add_to(fg)


@dataclass(frozen=True)
class SectorLayer:
    """The postcode-sector base map, ready to draw: outlines and labels as script-safe JSON.
    Making it is the slow part of drawing a map, so an app prepares it once per study area
    and reuses it."""

    outlines: str
    labels: str
    count: int

    def __len__(self) -> int:
        return self.count


def sector_layer(sectors: gpd.GeoDataFrame, *, simplify_m: float = 20.0) -> SectorLayer:
    """Prepare :func:`geo.geocode.sector_outlines` for :func:`case_map` (WGS84, ~1 m)."""
    shown = sectors.assign(geometry=sectors.geometry.simplify(simplify_m))
    outlines = _shape_features(
        shown, lambda r: {"color": "#9a9a9a", "weight": 1, "fill": False},
        lambda r: None, lambda r: f"Postcode sector {r.sector}", precision=1e-5)
    points = _wgs(gpd.GeoDataFrame(sectors[["sector"]], geometry=sectors.representative_point(),
                                   crs=sectors.crs))
    # how wide each sector is around its label: the side of a square of the same area
    zooms = label_zoom(np.sqrt(sectors.geometry.area.to_numpy()))
    labels = [{"lat": round(pt.y, 5), "lon": round(pt.x, 5), "size": [60, 14],
               "html": f"<div class='sp-label' data-z='{z:g}'>{esc(name)}</div>",
               "interactive": False}
              for name, pt, z in zip(points["sector"], points.geometry, zooms, strict=True)]
    return SectorLayer(script_json({"type": "FeatureCollection", "features": outlines}),
                       script_json(labels), len(outlines))


# ---------------------------------------------------------------------------------------------
# the map


def case_map(
    case: Case,
    *,
    policy: Policy | None = None,
    zones: gpd.GeoDataFrame | None = None,
    hotspots: gpd.GeoDataFrame | None = None,
    ranked: gpd.GeoDataFrame | None = None,
    safe_areas: gpd.GeoDataFrame | None = None,
    sectors: gpd.GeoDataFrame | SectorLayer | None = None,
    extra_layers: Mapping[str, folium.FeatureGroup] | None = None,
    as_of: dt.datetime | None = None,
    tiles: tuple[str, str] | None = None,
    top_n: int = 20,
    show_heat: bool = False,
    draw: bool = False,
    label_zones: bool = False,
    fit: gpd.GeoDataFrame | None = None,
    height: int = 640,
) -> folium.Map:
    """One map of the whole case (see the module notes).

    Parameters
    ----------
    case
        A validated case (layers in EPSG:27700).
    policy
        For fading incidents by age (``sources.incident.half_life_days``).
    zones, hotspots, ranked, safe_areas
        Derived layers to draw: exclusion zones (:func:`geo.zones.exclusion_zones`), hot spots
        (:func:`geo.hotspots.find_hotspots`), ranked candidates (:func:`geo.rank.rank`, drawn
        instead of the plain candidates) and safe areas.
    sectors
        Postcode-sector outlines for the offline base map (:func:`geo.geocode.sector_outlines`,
        or prepared once with :func:`sector_layer`).
    extra_layers
        More feature groups by name (routes, reachable areas), added as they are.
    tiles
        ``(url, attribution)`` of a tile server an administrator configured; none by default.
    top_n
        How many of the best eligible candidates carry their rank number.
    draw
        Add the polygon drawing tool (for drawing a zone).
    label_zones
        Put each zone's id on it (the numbers of a person's no-go list).
    fit
        Fit the map to these features instead of the whole case.
    """
    policy = policy or Policy.default()
    as_of = as_of or dt.datetime.now()
    # fractional zoom, so fitting the case fills the map instead of snapping a level out
    m = folium.Map(location=[53.48, -2.24], zoom_start=11, tiles=None, control_scale=True,
                   zoom_snap=0.25, zoom_delta=0.5,
                   max_zoom=19, prefer_canvas=False, height=height)
    if tiles:
        url, attribution = tiles
        folium.TileLayer(url, attr=esc(attribution), name="Base map", max_zoom=19).add_to(m)
    colours = _group_colours(case)
    names = dict(zip(case["groups"]["group_id"].astype(str),
                     case["groups"]["name"].astype(str), strict=True))
    legend: list[tuple[str, list[tuple[str, str]]]] = []

    if sectors is not None and len(sectors):
        base = sectors if isinstance(sectors, SectorLayer) else sector_layer(sectors)
        fg = _group(LAYER_TITLES["sectors"])
        _Shapes(base.outlines, interactive=False).add_to(fg)
        fg.add_to(m)
        labels = _group(LAYER_TITLES["sector_labels"])
        _Points(base.labels).add_to(labels)
        labels.add_to(m)
        _LabelZoom().add_to(m)
        legend.append(("Base map", [(_swatch("#ffffff", border="#9a9a9a", alpha=0.0),
                                     "Postcode sector (approximate)")]))

    bounds = case["boundaries"]
    if len(bounds):
        fg = _group(LAYER_TITLES["boundaries"])
        _add_shapes(fg, bounds,
                       lambda r: {"color": "#4d4d4d", "weight": 1.5, "dashArray": "6 4",
                                  "fill": False},
                       lambda r: popup_html(str(r.name), [("Code", r.code), ("Kind", r.kind)]),
                       lambda r: r.name)
        fg.add_to(m)

    areas = case["activity_areas"]
    area_rows = []
    for gid, part in areas.groupby("group_id", sort=True):
        colour = colours.get(str(gid), "#555")
        title = f"{names.get(str(gid), gid)} activity areas"
        fg = _group(title)
        _add_shapes(
            fg, part,
            lambda r, c=colour: {"color": c, "weight": 2, "fillColor": c, "fillOpacity": 0.22,
                                 "opacity": 0.9},
            lambda r, t=title: popup_html(f"{r.area_id}: {str(r.kind).replace('_', ' ')}", [
                ("Group", names.get(str(r.group_id), r.group_id)),
                ("Confidence", r.confidence), ("Source", r.source),
                ("Observed", " to ".join(str(v) for v in (r.observed_from, r.observed_to)
                                         if isinstance(v, str)))]),
            lambda r: f"{names.get(str(r.group_id), r.group_id)}: {r.kind} {r.area_id}",
        )
        fg.add_to(m)
        area_rows.append((_swatch(colour, border=colour), str(names.get(str(gid), gid))))
    if area_rows:
        legend.append(("Activity areas", area_rows))

    if hotspots is not None and len(hotspots):
        fg = _group(LAYER_TITLES["hotspots"])
        _add_shapes(
            fg, hotspots,
            lambda r: {"color": HOTSPOT, "weight": 2, "dashArray": "2 4", "fillColor": HOTSPOT,
                       "fillOpacity": 0.08},
            lambda r: popup_html(f"Hot spot {r.area_id}", [
                ("Group", names.get(str(r.group_id), r.group_id)),
                ("Incidents", r.incident_count),
                ("Period", f"{r.observed_from} to {r.observed_to}"),
                ("Confidence", r.confidence), ("Derived by", r.source)]),
            lambda r: f"Hot spot {r.area_id} ({r.incident_count} incidents)",
        )
        fg.add_to(m)
        legend.append(("Derived", [(_swatch(HOTSPOT, border=HOTSPOT, dash=True, alpha=0.05),
                                    "Hot spot from incidents")]))

    if zones is not None and len(zones):
        fg = _group(LAYER_TITLES["zones"])
        # one tint for the whole excluded area (overlaps do not darken), then each zone as an
        # outline that shows its reason when clicked
        union = _round(_wgs(zones).union_all())
        _Shapes([{"type": "Feature", "geometry": json.loads(shapely.to_geojson(union)),
                  "properties": {"style": {"stroke": False, "fillColor": EXCLUSION,
                                           "fillOpacity": 0.13}}}],
                interactive=False).add_to(fg)
        _add_shapes(
            fg, zones,
            lambda r: {"color": EXCLUSION, "weight": 1.2, "dashArray": "5 4", "opacity": 0.8,
                       "fillColor": EXCLUSION, "fillOpacity": 0.0},
            lambda r: popup_html(f"{r.zone_id}: {'no-go area' if r.kind == 'no_go' else r.kind}", [
                ("Reason", r.reason), ("Sources", getattr(r, "sources", None)),
                ("Applies to", getattr(r, "applies_to", None) or "everyone"),
                ("Made", getattr(r, "source", None))]),
            lambda r: f"{r.zone_id}: {r.reason}",
        )
        if label_zones:
            _Points(_number_labels(zones, zones["zone_id"], EXCLUSION)).add_to(fg)
        fg.add_to(m)
        legend.append(("Zones", [(_swatch(EXCLUSION, border=EXCLUSION, dash=True, alpha=0.1),
                                  "Exclusion zone or no-go area")]))

    if safe_areas is not None and len(safe_areas):
        fg = _group(LAYER_TITLES["safe_areas"])
        _add_shapes(
            fg, safe_areas,
            lambda r: {"color": SAFE_AREA, "weight": 2.5, "fillColor": SAFE_AREA,
                       "fillOpacity": 0.18},
            lambda r: popup_html(f"Safe area {getattr(r, 'rank', '')}: {getattr(r, 'name', '')}", [
                ("Score", getattr(r, "score", None)),
                ("Sectors", getattr(r, "postcode_sectors", None)),
                ("Why", getattr(r, "reasons", None))]),
            lambda r: f"Safe area {getattr(r, 'rank', '')}: {getattr(r, 'name', '')}",
        )
        if "rank" in safe_areas.columns:
            _Points(_number_labels(safe_areas, safe_areas["rank"], SAFE_AREA)).add_to(fg)
        fg.add_to(m)
        legend.append(("Suggested", [(_swatch(SAFE_AREA, border=SAFE_AREA, alpha=0.2),
                                      "Safe area to ask housing providers about")]))

    incidents = case["incidents"]
    if len(incidents):
        from geo.sources import fade

        p = policy.table("sources.incident")
        left = fade(incidents["occurred_at"], as_of=as_of, half_life_days=p["half_life_days"],
                    floor=0.0)
        opacity = 0.3 + 0.7 * left
        fg = _group(LAYER_TITLES["incidents"])
        pts = _wgs(incidents)
        items = []
        for row, pt, o in zip(incidents.itertuples(), pts.geometry, opacity, strict=True):
            shape, colour, words = INCIDENT_STYLE.get(row.kind, INCIDENT_STYLE["other"])
            items.append({
                "lat": round(pt.y, 6), "lon": round(pt.x, 6), "size": [18, 18], "z": 500,
                "html": _svg(shape, colour, float(o)),
                "popup": popup_html(f"{words} {row.incident_id}", [
                    ("Date", row.occurred_at),
                    ("Attributed to", names.get(str(row.group_id), row.group_id)
                     if isinstance(row.group_id, str) else "not attributed"),
                    ("Target", row.target_address_id), ("Confidence", row.confidence),
                    ("What happened", row.description)]),
                "tooltip": esc(f"{words} {row.incident_id}, {row.occurred_at}"),
            })
        _Points(items).add_to(fg)
        fg.add_to(m)
        heat = _group(LAYER_TITLES["heat"], show=show_heat)
        folium.plugins.HeatMap([[pt.y, pt.x, float(w)] for pt, w in zip(
            pts.geometry, 0.3 + 0.7 * left, strict=True)], radius=28, blur=22,
            min_opacity=0.25).add_to(heat)
        heat.add_to(m)
        kinds = [k for k in INCIDENT_STYLE if (incidents["kind"] == k).any()]
        legend.append(("Incidents (faded by age)", [
            (_svg(INCIDENT_STYLE[k][0], INCIDENT_STYLE[k][1], 1.0, 14),
             INCIDENT_STYLE[k][2]) for k in kinds]))

    addresses = case["addresses"]
    if len(addresses):
        relation = _relations(case)
        pts = _wgs(addresses)
        linked = _group(LAYER_TITLES["addresses"])
        destinations = _group(LAYER_TITLES["destinations"])
        items: dict[str, list[dict]] = {"linked": [], "destinations": []}
        for row, pt in zip(addresses.itertuples(), pts.geometry, strict=True):
            letter, fill, words = ADDRESS_STYLE.get(row.kind, ("?", "#eee", row.kind))
            known = bool(row.known_to_rivals)
            cls = "sp-addr sp-known" if known else "sp-addr"
            target = "destinations" if row.kind in ("school", "support") else "linked"
            items[target].append({
                "lat": round(pt.y, 6), "lon": round(pt.x, 6), "size": [18, 18], "z": 1000,
                "html": f"<div class='{cls}' style='background:{fill}'>{esc(letter)}</div>",
                "popup": popup_html(f"{row.address_id}: {row.label}", [
                    ("Kind", words), ("Postcode", row.postcode),
                    ("Known to rivals", "yes" if known else "no"), ("Status", row.status),
                    ("Linked to", relation.get(str(row.address_id), ""))]),
                "tooltip": esc(f"{words}: {row.label}"
                               + (" (known to rivals)" if known else "")),
            })
        _Points(items["linked"]).add_to(linked)
        _Points(items["destinations"]).add_to(destinations)
        linked.add_to(m)
        destinations.add_to(m)
        kinds = [k for k in ADDRESS_STYLE if (addresses["kind"] == k).any()]
        rows = [(f"<span class='sp-addr' style='background:{ADDRESS_STYLE[k][1]};"
                 f"display:inline-block'>{esc(ADDRESS_STYLE[k][0])}</span>",
                 ADDRESS_STYLE[k][2]) for k in kinds]
        if addresses["known_to_rivals"].any():
            rows.append(("<span class='sp-addr sp-known' style='display:inline-block;"
                         "background:#fff'>&nbsp;</span>", "Known to rivals"))
        legend.append(("Addresses", rows))

    if ranked is not None and len(ranked):
        _ranked_layer(m, ranked, top_n)
        legend.append(("Candidates", [
            ("<span class='sp-rank' style='display:inline-block;transform:scale(.8)'>1</span>",
             f"Eligible, numbered by rank (top {top_n})"),
            (f"<svg width='14' height='14'><circle cx='7' cy='7' r='5' fill='{ELIGIBLE}' "
             "stroke='#fff'/></svg>", "Eligible"),
            (f"<svg width='14' height='14'><circle cx='7' cy='7' r='4' fill='#fff' "
             f"stroke='{INELIGIBLE}' stroke-width='2'/></svg>", "Not eligible")]))
    elif len(case["candidates"]):
        fg = _group(LAYER_TITLES["candidates"])
        pts = _wgs(case["candidates"])
        _Points([{"lat": round(pt.y, 6), "lon": round(pt.x, 6),
                  "style": {"radius": 4, "color": "#555", "weight": 1, "fillColor": "#bbb",
                            "fillOpacity": 0.9},
                  "popup": popup_html(f"{row.candidate_id}: {row.label}",
                                      [("Postcode", row.postcode)]),
                  "tooltip": esc(row.candidate_id)}
                 for row, pt in zip(case["candidates"].itertuples(), pts.geometry,
                                    strict=True)]).add_to(fg)
        fg.add_to(m)
        legend.append(("Candidates", [("<svg width='14' height='14'><circle cx='7' cy='7' "
                                       "r='4' fill='#bbb' stroke='#555'/></svg>",
                                       "Candidate (not yet ranked)")]))

    for name, group in (extra_layers or {}).items():
        group.layer_name = esc(name)
        group.add_to(m)

    if draw:
        folium.plugins.Draw(
            export=False, position="topleft",
            draw_options={"polyline": False, "rectangle": False, "circle": False,
                          "marker": False, "circlemarker": False,
                          "polygon": {"allowIntersection": False, "showArea": True}},
            edit_options={"edit": False, "remove": False},
        ).add_to(m)

    folium.LayerControl(collapsed=True, position="topright").add_to(m)
    _Legend(_legend_html(legend)).add_to(m)
    extent = _extent(case, zones, ranked) if fit is None or not len(fit) else _bounds(fit)
    if extent is not None:
        m.fit_bounds(extent)
    return m


def _relations(case: Case) -> dict[str, str]:
    """Per address: who is linked to it and how (``Carl Brenwick (subject): resides``)."""
    people = case["people"].set_index("person_id")
    out: dict[str, list[str]] = {}
    for row in case["links"].itertuples():
        if row.person_id not in people.index:
            continue
        person = people.loc[row.person_id]
        out.setdefault(str(row.address_id), []).append(
            f"{person['label']} ({str(person['role']).replace('_', ' ')}): {row.relation}")
    return {k: "; ".join(v) for k, v in out.items()}


def _ranked_layer(m: folium.Map, ranked: gpd.GeoDataFrame, top_n: int) -> None:
    fg = _group(LAYER_TITLES["candidates"])
    items = []
    # the worst first, so the best are drawn on top
    for row in ranked.sort_values("rank", ascending=False).itertuples():
        item = {
            "lat": float(row.lat), "lon": float(row.lon),
            "popup": popup_html(f"{row.candidate_id}: {row.label}", [
                ("Rank", int(row.rank)), ("Postcode", row.postcode), ("Score", row.score),
                ("Threat score", row.threat_score), ("School run (min)", row.school_min),
                ("Why", row.reasons)]),
            "tooltip": esc(f"#{int(row.rank)} {row.candidate_id} "
                           f"({'eligible' if row.eligible else 'not eligible'})"),
        }
        if row.eligible and row.rank <= top_n:
            item.update(html=f"<div class='sp-rank'>{int(row.rank)}</div>", size=[22, 22],
                        z=800)
        elif row.eligible:
            item["style"] = {"radius": 5, "color": "#fff", "weight": 1, "fillColor": ELIGIBLE,
                             "fillOpacity": 0.9}
        else:
            item["style"] = {"radius": 4, "color": INELIGIBLE, "weight": 2, "fillColor": "#fff",
                             "fillOpacity": 0.9}
        items.append(item)
    _Points(items).add_to(fg)
    fg.add_to(m)


def _number_labels(frame: gpd.GeoDataFrame, numbers: pd.Series, colour: str) -> list[dict]:
    """A numbered disc inside each shape (its representative point), not clickable."""
    points = _wgs(frame).geometry.representative_point()
    return [{"lat": round(pt.y, 6), "lon": round(pt.x, 6), "size": [22, 22], "z": 1500,
             "html": f"<div class='sp-rank' style='background:{colour}'>{esc(n)}</div>",
             "interactive": False}
            for n, pt in zip(numbers.astype(str), points, strict=True)
            if pt is not None and not pt.is_empty]


def _bounds(*frames: gpd.GeoDataFrame) -> list[list[float]] | None:
    boxes = [gpd.GeoSeries(f.geometry.values, crs=f.crs).to_crs(WGS84).total_bounds
             for f in frames if len(f)]
    if not boxes:
        return None
    b = np.array(boxes)
    return [[float(b[:, 1].min()), float(b[:, 0].min())],
            [float(b[:, 3].max()), float(b[:, 2].max())]]


def _extent(case: Case, *others) -> list[list[float]] | None:
    frames = [case[n] for n in ("activity_areas", "incidents", "addresses", "candidates")]
    frames += [f for f in others if f is not None and len(f) and f.crs is not None]
    return _bounds(*frames)


def feature_at(layers: Mapping[str, gpd.GeoDataFrame], lat: float, lon: float, *,
               tolerance_m: float = 25.0) -> tuple[str, pd.Series] | None:
    """The feature a map click landed on: the nearest point within ``tolerance_m``, else the
    smallest polygon containing the click. ``layers`` maps layer names to frames."""
    from geo.crs import wgs84_to_bng

    x, y = wgs84_to_bng([lon], [lat])
    click = shapely.Point(float(x[0]), float(y[0]))
    best: tuple[float, str, pd.Series] | None = None
    for name, frame in layers.items():
        if frame is None or not len(frame):
            continue
        geoms = gpd.GeoSeries(frame.geometry.values, crs=frame.crs).to_crs(27700)
        points = geoms.geom_type == "Point"
        if points.any():
            d = geoms[points].distance(click)
            i = int(np.argmin(d.to_numpy()))
            if d.iloc[i] <= tolerance_m and (best is None or d.iloc[i] < best[0]):
                best = (float(d.iloc[i]), name, frame[points.to_numpy()].iloc[i])
    if best is not None:
        return best[1], best[2]
    hits = []
    for name, frame in layers.items():
        if frame is None or not len(frame):
            continue
        geoms = gpd.GeoSeries(frame.geometry.values, crs=frame.crs).to_crs(27700)
        inside = geoms.contains(click) & (geoms.geom_type != "Point")
        for i in np.flatnonzero(inside.to_numpy()):
            hits.append((float(geoms.iloc[i].area), name, frame.iloc[i]))
    if not hits:
        return None
    hits.sort(key=lambda h: h[0])
    return hits[0][1], hits[0][2]


# ---------------------------------------------------------------------------------------------
# street-network layers (routes, reachable areas, the graph's coverage)

ROUTE_OK = "#2166ac"
ROUTE_CROSSING = "#b2182b"


def routes_layer(routes: gpd.GeoDataFrame, *, name: str = "School routes") -> folium.FeatureGroup:
    """Each checked school route as a line: blue, or red where it passes through a zone."""
    fg = _group(name)
    lines = routes[routes.geometry.notna() & ~routes.geometry.is_empty] if len(routes) else routes
    if len(lines):
        _Shapes(_shape_features(
            lines,
            lambda r: {"color": ROUTE_CROSSING if r.crosses_zone else ROUTE_OK,
                       "weight": 4 if r.crosses_zone else 3, "opacity": 0.85,
                       "dashArray": None if r.crosses_zone else "6 4"},
            lambda r: popup_html(f"School route from {r.candidate_id}", [
                ("To", getattr(r, "school", "")),
                ("Minutes", None if pd.isna(r.minutes) else round(float(r.minutes), 1)),
                ("Passes through", r.zone_reasons if r.crosses_zone else "no zone"),
                ("For (m)", round(float(r.crossing_m)) if r.crosses_zone else None)]),
            lambda r: (f"{r.candidate_id}: route passes through {r.zone_ids}"
                       if r.crosses_zone else f"{r.candidate_id}: route clear of zones"),
        )).add_to(fg)
    return fg


def reachable_layer(areas: gpd.GeoDataFrame, *, name: str = "Reachable from school"
                    ) -> folium.FeatureGroup:
    """Isochrones (``minutes`` and outline per row), lightest for the longest time."""
    fg = _group(name)
    if len(areas):
        longest = float(areas["minutes"].max())
        ordered = areas.sort_values("minutes", ascending=False)
        _Shapes(_shape_features(
            ordered,
            lambda r: {"color": "#08519c", "weight": 1.5, "fillColor": "#6baed6",
                       "fillOpacity": 0.08 + 0.12 * (1 - float(r.minutes) / longest)},
            lambda r: popup_html(f"Within {r.minutes:g} minutes of school", []),
            lambda r: f"Within {r.minutes:g} min of school",
        )).add_to(fg)
    return fg


def streets_layer(streets: gpd.GeoDataFrame, coverage: shapely.Geometry | None = None, *,
                  name: str = "Street graph") -> folium.FeatureGroup:
    """The loaded street graph: its streets, and the area where points get network times."""
    fg = _group(name)
    if coverage is not None and not coverage.is_empty:
        cov = gpd.GeoDataFrame({"what": ["coverage"]}, geometry=[coverage], crs=27700)
        _Shapes(_shape_features(
            cov, lambda r: {"color": "#41ab5d", "weight": 1, "fillColor": "#41ab5d",
                            "fillOpacity": 0.06, "dashArray": "4 4"},
            lambda r: popup_html("Street graph coverage", [("Meaning", "points here get "
                                                            "street-network times")]),
            lambda r: "Street graph coverage"), interactive=False).add_to(fg)
    if len(streets):
        _Shapes(_shape_features(
            streets[["highway", "geometry"]],
            lambda r: {"color": "#525252", "weight": 1.2, "opacity": 0.7},
            lambda r: None, lambda r: str(r.highway)), interactive=False).add_to(fg)
    return fg
