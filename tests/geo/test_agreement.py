"""No-go areas and the working-agreement annex: containment, who they apply to, the PDF."""

from __future__ import annotations

import io
import re

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from pypdf import PdfReader

from geo.agreement import (
    agreement_html,
    agreement_pdf,
    build_agreement,
    load_template,
    no_go_areas,
    readable_outline,
    write_agreement,
)
from geo.demo import AS_OF, build_demo_case
from geo.errors import InputError
from geo.model import validate_case
from geo.settings import Policy
from geo.zones import exclusion_zones
from tests.geo.conftest import NOW

POLICY = Policy.default()
MARKING = "OFFICIAL-SENSITIVE"


@pytest.fixture(scope="module")
def demo():
    return build_demo_case()


@pytest.fixture(scope="module")
def annexes(demo):
    """Each mother's annex: P02 Leanne Ashdown and P05 Kayla Dorrit."""
    return {pid: build_agreement(demo, pid, POLICY, as_of=AS_OF, worker="Jo Fenwick",
                                 today=AS_OF.date()) for pid in ("P02", "P05")}


@pytest.fixture
def zoned_case(tiny_layers):
    tiny_layers["zones"] = gpd.GeoDataFrame(
        {"zone_id": ["Z1", "Z2", "Z3"], "kind": ["exclusion", "no_go", "no_go"],
         "reason": ["Drawn: estate", "Drawn: market for Kit", "Drawn: for Pat"],
         "applies_to": [None, "P3", "P2"], "source": ["drawn"] * 3},
        geometry=[shapely.box(388_000, 392_000, 390_000, 393_500),
                  shapely.Point(386_000, 398_500).buffer(600),
                  shapely.box(392_500, 392_500, 394_000, 394_000)],
        crs=27700)
    return validate_case(tiny_layers, now=NOW).raise_if_fatal()


def pdf_pages(data: bytes) -> list[str]:
    """The text of each page, whitespace squashed to single spaces."""
    return [re.sub(r"\s+", " ", page.extract_text()) for page in PdfReader(io.BytesIO(data)).pages]


# --- no-go areas ---------------------------------------------------------------------------


@pytest.mark.parametrize("simplify_m", [10.0, 50.0, 200.0])
@pytest.mark.parametrize("merge", [True, False])
def test_no_go_polygons_contain_their_source_zones(demo, simplify_m, merge):
    policy = POLICY.with_overrides({"zones": {"simplify_m": simplify_m}}, origin="test")
    zones = exclusion_zones(demo, policy, as_of=AS_OF).set_index("zone_id")
    found = no_go_areas(demo, "P02", policy, as_of=AS_OF, merge=merge)
    for zone_id, zone in zones.iterrows():
        rows = found[found["zone_id"].str.split(",").map(lambda ids, z=zone_id: z in ids)]
        assert len(rows), zone_id
        assert shapely.union_all(rows.geometry.to_numpy()).contains(zone.geometry), zone_id
    if not merge:
        for row in found.itertuples():
            assert row.geometry.contains(zones.loc[row.zone_id].geometry)


def test_outlines_are_simpler_than_the_zones_they_contain(demo):
    zones = exclusion_zones(demo, POLICY, as_of=AS_OF)
    for geom in zones.geometry:
        readable = readable_outline(geom, 50.0)
        assert readable.contains(geom)
        assert shapely.get_num_coordinates(readable) < shapely.get_num_coordinates(geom)
        # no jagged edges: nothing narrower than the tolerance sticks out
        assert readable.buffer(-25).buffer(25).symmetric_difference(readable).area < (
            0.01 * readable.area)


def test_overlapping_zones_merge_and_keep_every_reason(demo):
    found = no_go_areas(demo, "P02", POLICY, as_of=AS_OF)
    zones = exclusion_zones(demo, POLICY, as_of=AS_OF)
    applying = zones[zones["applies_to"].isna() | zones["applies_to"].str.contains("P02")]
    assert found["number"].tolist() == list(range(1, len(found) + 1))
    listed = {r for text in found["reason"] for r in text.split("; ")}
    assert listed == set(applying["reason"])
    # numbered from north to south
    tops = found.geometry.bounds["maxy"].to_numpy()
    assert list(tops) == sorted(tops, reverse=True)
    # separate areas do not overlap once merged
    assert found.geometry.union_all().area == pytest.approx(found.geometry.area.sum())


def test_which_zones_apply_to_whom(zoned_case):
    def ids(pid):
        found = no_go_areas(zoned_case, pid, POLICY, as_of=NOW, merge=False)
        return set(found["zone_id"])

    derived = set(exclusion_zones(zoned_case, POLICY, as_of=NOW,
                                  include_case_zones=False)["zone_id"])
    assert ids("P2") == derived | {"Z1", "Z3"}
    assert ids("P3") == derived | {"Z1", "Z2"}
    assert ids("P1") == derived | {"Z1"}


def test_each_no_go_area_lists_the_sectors_and_boundaries_it_touches(tiny_layers):
    tiny_layers["boundaries"] = gpd.GeoDataFrame(
        {"name": ["North", "Far"]},
        geometry=[shapely.box(382_000, 399_000, 388_000, 405_000),
                  shapely.box(400_000, 380_000, 401_000, 381_000)], crs=27700)
    case = validate_case(tiny_layers, now=NOW).raise_if_fatal()
    found = no_go_areas(case, "P2", POLICY, as_of=NOW, merge=False).set_index("zone_id")
    home = found.loc["X05"]  # within 1.5 km of the subject's home at (384500, 401500)
    assert home.boundaries == "North"
    assert "M8 5" in home.postcode_sectors.split(", ")
    assert set(home.whole_sectors.split(", ")) <= set(home.postcode_sectors.split(", "))
    assert found.loc["X01", "boundaries"] == ""


def test_unknown_people_and_rivals_are_refused(zoned_case):
    with pytest.raises(InputError, match=re.escape(
            "unknown person id 'P9' (people in the case: P1, P2, P3, P4)")):
        no_go_areas(zoned_case, "P9", POLICY)
    with pytest.raises(InputError, match="P4 \\(Rex Rival\\) is a rival"):
        build_agreement(zoned_case, "P4", POLICY)


def test_a_person_with_no_zones_gets_a_clear_message_and_no_document(tmp_path):
    case = validate_case({
        "case": pd.DataFrame({"case_ref": ["Q-1"], "review_at": ["2027-01-01"]}),
        "people": pd.DataFrame({"person_id": ["S", "M"], "label": ["Sid", "Mo"],
                                "role": ["subject", "partner"]}),
    }, now=NOW).raise_if_fatal()
    assert len(no_go_areas(case, "M", POLICY)) == 0
    with pytest.raises(InputError, match=re.escape(
            "no no-go area applies to Mo (M): the case has no exclusion zone and no no-go "
            "area for them, so there is no annex to print")):
        build_agreement(case, "M", POLICY)
    assert not list(tmp_path.iterdir())


# --- the annex -----------------------------------------------------------------------------


def test_the_pdf_opens_with_the_marking_on_every_page_and_the_no_go_list(annexes):
    annex = annexes["P02"]
    pages = pdf_pages(agreement_pdf(annex))
    assert len(pages) >= 2
    for n, text in enumerate(pages, start=1):
        assert text.count(MARKING) >= 2, f"page {n}: marking not at top and bottom"
        assert f"Page {n} of {len(pages)}" in text
    everything = " ".join(pages)
    assert "No-go areas" in everything
    for reason in {r for text in annex.no_go["reason"] for r in text.split("; ")}:
        assert reason in everything
    for sector in annex.sectors:
        assert f" {sector}," in everything or f" {sector} " in everything
    assert "Review date: 25 February 2027" in everything
    assert "Signed: Leanne Ashdown" in everything
    assert "Signed: Named worker: Jo Fenwick" in everything
    assert "no direct contact with Carl Brenwick" in everything


def forbidden_terms(case, person_id):
    """Where the person and her household live now, every temporary address, every
    candidate: labels and postcodes, also without spaces."""
    links = case["links"]
    homes = links[(links["person_id"] == person_id) & (links["relation"] == "resides")]
    addresses = case["addresses"]
    chosen = addresses[addresses["address_id"].isin(homes["address_id"])
                       | (addresses["kind"] == "temporary")]
    cands = case["candidates"]
    terms = [*chosen["label"], *chosen["postcode"], *cands["label"], *cands["postcode"]]
    return terms + [t.replace(" ", "") for t in terms]


@pytest.mark.parametrize("person_id", ["P02", "P05"])
def test_the_annex_never_shows_where_the_family_lives_or_might_live(demo, annexes, person_id):
    annex = annexes[person_id]
    pdf_text = " ".join(pdf_pages(agreement_pdf(annex)))
    html_text = agreement_html(annex)
    terms = forbidden_terms(demo, person_id)
    assert "BL1 1RF" in terms  # the emergency placement
    assert len(terms) > 600  # 320 candidates
    for term in terms:
        assert term not in pdf_text, term
        assert term not in html_text, term
    assert "Vacancy" not in pdf_text
    assert "Emergency placement" not in pdf_text


@pytest.mark.parametrize("person_id", ["P02", "P05"])
def test_each_mothers_annex_prints_with_a_map_and_no_go_sectors(demo, annexes, person_id,
                                                                tmp_path):
    """Done when: each mother's annex prints with a readable map and no-go sector list."""
    annex = annexes[person_id]
    path = write_agreement(annex, tmp_path / f"{person_id}.pdf")
    reader = PdfReader(path)
    text = " ".join(pdf_pages(path.read_bytes()))
    assert "Every postcode sector with a no-go area in it: M1 1, M1 2" in text
    assert {"M8 5", "M9 4", "M16 7"} <= set(annex.sectors)
    assert f"Map of the no-go areas for {annex.person}" in text
    images = [img for page in reader.pages for img in page.images]
    assert len(images) == 1
    assert images[0].image.size[0] >= 1200  # 7 inches at 200 dpi: sector labels readable
    assert annex.map_png.startswith(b"\x89PNG")


def test_the_html_is_self_contained_and_escapes_what_users_typed(demo):
    annex = build_agreement(demo, "P05", POLICY, as_of=AS_OF,
                            worker="<script>alert('x')</script> & Co")
    page = agreement_html(annex)
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; Co" in page
    assert page.count('class="marking') == 2
    assert 'src="data:image/png;base64,' in page
    assert "http://" not in page
    assert "https://" not in page


def test_review_date_defaults_to_the_case_and_can_be_given(demo):
    assert build_agreement(demo, "P05", POLICY, as_of=AS_OF).review_date == "25 February 2027"
    given = build_agreement(demo, "P05", POLICY, as_of=AS_OF, review="10/01/2027")
    assert given.review_date == "10 January 2027"
    with pytest.raises(InputError, match="review date: "):
        build_agreement(demo, "P05", POLICY, as_of=AS_OF, review="soon")


def test_no_review_date_anywhere_is_refused(tiny_case):
    with pytest.raises(InputError, match=re.escape(
            "no review date: give one (--review DATE) or set the case's review_at")):
        build_agreement(tiny_case, "P2", POLICY, as_of=NOW)


def test_without_a_worker_the_lines_are_left_to_fill_in(tiny_case):
    annex = build_agreement(tiny_case, "P2", POLICY, as_of=NOW, review="2027-03-01")
    assert "I will tell my named worker as soon as I can" in " ".join(annex.conditions)
    assert annex.signatures == ["Pat Partner", "Named worker: " + "_" * 24]


# --- the template --------------------------------------------------------------------------


def test_a_user_template_fills_every_placeholder(tiny_case, tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(
        'title = "Agreement for $person ($person_id)"\n'
        'intro = "Case $case_ref, made $today; costs $$0."\n'
        'conditions = ["Keep away from $subject.", "Call $worker before $review_date."]\n'
        'signatures = ["$person"]\n')
    annex = build_agreement(tiny_case, "P2", POLICY, as_of=NOW, template=path,
                            worker="Ann Lee", review="2027-03-01",
                            today=NOW.date())
    assert annex.title == "Agreement for Pat Partner (P2)"
    assert annex.intro == "Case T-1, made 25 November 2026; costs $0."
    assert annex.conditions == ["Keep away from Sam Subject.",
                                "Call Ann Lee before 1 March 2027."]
    assert annex.signatures == ["Pat Partner"]
    assert annex.closing == ""


@pytest.mark.parametrize(
    ("text", "message"),
    [('conditions = ["Stay away from $sujbect."]\n',
      "mine.toml: unknown placeholder $sujbect in conditions[1] (known: $person, "),
     ('conditions = ["Pay $5"]\n', "mine.toml: a '$' in conditions[1] is not a placeholder"),
     ('conditions = []\n', "mine.toml: the template has no conditions"),
     ('conditions = "one"\n', "mine.toml: template key 'conditions' must be a list of text"),
     ('conditoins = ["x"]\n', "mine.toml: unknown template key 'conditoins'"),
     ('conditions = ["x"\n', "mine.toml: not a valid TOML template"),
     ('title = 3\nconditions = ["x"]\n', "mine.toml: template key 'title' must be text")],
)
def test_bad_templates_are_refused_by_name(tiny_case, tmp_path, text, message):
    path = tmp_path / "mine.toml"
    path.write_text(text)
    with pytest.raises(InputError, match=re.escape(message)):
        build_agreement(tiny_case, "P2", POLICY, as_of=NOW, template=path,
                        review="2027-03-01")


def test_a_template_that_names_an_address_is_refused(demo):
    template = {**load_template(),
                "conditions": ["I will stay at the placement at bl1 1rf until moved."]}
    with pytest.raises(InputError, match=re.escape(
            "template: the annex would show 'BL1 1RF', an address where the family lives or "
            "might live")):
        build_agreement(demo, "P02", POLICY, as_of=AS_OF, template=template)


def test_the_default_template_reads_in_plain_english():
    template = load_template()
    assert template["title"] == "Working agreement: no-go areas"
    assert len(template["conditions"]) == 5
    assert any("joint risk assessment" in c for c in template["conditions"])
    assert any("tell $worker" in c for c in template["conditions"])


def test_other_output_types_are_refused(annexes, tmp_path):
    with pytest.raises(InputError, match=r"annex.docx: an agreement is written as \.pdf or "
                                         r"\.html, not \.docx"):
        write_agreement(annexes["P02"], tmp_path / "annex.docx")


# --- the command ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory):
    from geo.demo import write_demo

    return write_demo(tmp_path_factory.mktemp("demo"))


def test_safeplan_agreement_writes_a_pdf_and_an_html(demo_file, tmp_path, capsys):
    from geo.cli import main

    out = tmp_path / "annex.pdf"
    code = main(["agreement", str(demo_file), "--person", "P05", "--out", str(out),
                 "--worker", "Jo Fenwick", "--as-of", "2026-11-25", "--review", "2027-01-31"])
    printed = capsys.readouterr().out
    assert code == 0
    assert printed.startswith("Kayla Dorrit (P05): 2 no-go area(s) covering ")
    assert "review 31 January 2027" in printed
    text = " ".join(pdf_pages(out.read_bytes()))
    assert "Review date: 31 January 2027" in text
    html_out = tmp_path / "annex.html"
    assert main(["agreement", str(demo_file), "--person", "P05", "--out", str(html_out),
                 "--as-of", "2026-11-25"]) == 0
    assert html_out.read_text().startswith("<!DOCTYPE html>")


@pytest.mark.parametrize(
    ("argv", "message"),
    [(["--person", "P99", "--out", "a.pdf"], "unknown person id 'P99'"),
     (["--person", "P12", "--out", "a.pdf"], "P12 (Marcus Tolley) is a rival"),
     (["--person", "P01", "--out", "a.pdf"], "P01 (Carl Brenwick) is the subject, the person "
                                             "under threat"),
     (["--person", "P03", "--out", "a.pdf"], "is a child: the agreement is made with the "
                                             "adult who cares for them (adults in the case: "
                                             "P02, P05"),
     (["--person", "P02", "--out", "a.docx"], "a.docx: an agreement is written as .pdf or "
                                              ".html (or its no-go areas as .geojson"),
     (["--person", "P02", "--out", "a.pdf", "--template", "none.toml"],
      "cannot read the template"),
     (["--person", "P02", "--out", "a.pdf", "--review", "someday"], "review date: ")],
)
def test_safeplan_agreement_bad_input_is_one_line_and_exit_2(demo_file, tmp_path, capsys,
                                                             argv, message):
    from geo.cli import main

    argv = [a if not a.startswith("a.") else str(tmp_path / a) for a in argv]
    code = main(["agreement", str(demo_file), *argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1
    assert message in err[0]
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("suffix", [".geojson", ".gpkg", ".kml"])
def test_safeplan_agreement_exports_the_no_go_areas_for_gis(demo_file, tmp_path, capsys,
                                                            suffix):
    import pyogrio

    from geo.cli import main

    out = tmp_path / f"nogo{suffix}"
    assert main(["agreement", str(demo_file), "--person", "P02", "--out", str(out),
                 "--as-of", "2026-11-25"]) == 0
    assert capsys.readouterr().out.strip() == f"wrote 2 no-go areas to {out}"
    back = pyogrio.read_dataframe(out)
    assert len(back) == 2
    assert {"zone_id", "reason", "postcode_sectors", "whole_sectors"} <= set(back.columns)
    assert back.geometry.is_valid.all()
