"""The ``safeplan`` command: exit 0 on success, 2 and one stderr line on bad input."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from geo.cli import build_parser, main
from geo.geocode import lookup_postcodes as geocode_lookup


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    assert main(["demo", "--out", str(out)]) == 0
    return out


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_demo_then_validate(demo_dir, capsys):
    code, out, err = run(capsys, "validate", str(demo_dir / "demo_case.gpkg"))
    assert code == 0, err
    assert out.startswith("demo_case.gpkg: valid (0 warnings).")
    assert "candidates 320" in out
    assert (demo_dir / "demo_vacancies.csv").exists()


def test_validate_reports_every_problem_and_exits_2(tmp_path, tiny_layers, capsys):
    from geo.io import write_case
    from geo.model import Case

    tiny_layers["people"].loc[0, "role"] = "boss"
    tiny_layers["links"].loc[1, "address_id"] = "A9"
    path = write_case(Case(tiny_layers), tmp_path / "bad.gpkg")
    code, out, err = run(capsys, "validate", str(path))
    assert code == 2
    assert "error: people row 1 (P1) [role]: unknown value 'boss'" in out
    assert "error: links row 2 [address_id]: refers to addresses 'A9'" in out
    assert one_line(err) == "bad.gpkg: 2 fatal problems; see above"


def test_geocode_prints_a_table(capsys):
    code, out, _ = run(capsys, "geocode", "m11ad", "SK3 9EE")
    assert code == 0
    assert out.splitlines() == [
        "postcode,lat,lon,easting,northing",
        "M1 1AD,53.483768,-2.244869,383848,398589",
        out.splitlines()[2],
    ]
    assert out.splitlines()[2].startswith("SK3 9EE,53.40")


def test_geocode_refuses_bad_postcodes(capsys):
    code, out, err = run(capsys, "geocode", "M1 1AD", "banana")
    assert code == 2
    assert out == ""
    assert one_line(err) == ("safeplan geocode: 1 postcode could not be geocoded: row 2 "
                             "'banana' is not a valid UK postcode")


def test_import_adds_rows_and_a_bad_file_changes_nothing(demo_dir, tmp_path, capsys):
    case = tmp_path / "case.gpkg"
    shutil.copy(demo_dir / "demo_case.gpkg", case)
    before = hashlib.sha256(case.read_bytes()).hexdigest()
    bad = tmp_path / "bad.csv"
    bad.write_text("candidate_id,label,postcode\nN1,Fine,M1 1AD\nN2,Broken,QQ1\n")
    code, out, err = run(capsys, "import", str(case), "candidates", str(bad))
    assert code == 2
    assert one_line(err) == ("safeplan import: bad.csv: error: candidates row 3 (N2) "
                             "[postcode]: 'QQ1' is not a valid UK postcode")
    assert hashlib.sha256(case.read_bytes()).hexdigest() == before

    code, out, err = run(capsys, "import", str(case), "candidates",
                         str(demo_dir / "demo_vacancies.csv"))
    assert code == 0, err
    assert out.strip() == "demo_vacancies.csv: added 40 rows to candidates"
    code, out, _ = run(capsys, "validate", str(case))
    assert "candidates 360" in out

    # the same file again: every id clashes, nothing is added
    code, out, err = run(capsys, "import", str(case), "candidates",
                         str(demo_dir / "demo_vacancies.csv"))
    assert code == 2
    assert "already exists in the case" in one_line(err)
    assert "(and 39 more)" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["validate", "/no/such.gpkg"], "safeplan validate: /no/such.gpkg: no such file"),
        (["import", "/no/such.gpkg", "candidates", "x.csv"],
         "safeplan import: /no/such.gpkg: no such file"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv, message, capsys):
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert one_line(err) == message


@pytest.mark.parametrize(
    ("layer", "text", "message"),
    [
        # no postcode of the file is in an installed area: nothing to look up at all
        ("candidates", "candidate_id,label,postcode\nX1,A,BT1 1AA\n",
         "x.csv: error: candidates row 2 (X1) [postcode]: 'BT1 1AA' is not in Code-Point "
         "Open"),
        ("activity_areas", "area_id,group_id,wkt\nAA9,G-KES,\n",
         "x.csv: error: activity_areas row 2 (AA9) [geometry]: geometry is missing or empty"),
        # an unquoted comma pushes values into the wrong columns
        ("activity_areas", "area_id,group_id,wkt\nAA9,G-KES,POLYGON((0 0, 1 0, 1 1, 0 0))\n",
         "x.csv: row 2 has 6 values but the header names 3 columns (a value containing a "
         "comma must be in double quotes)"),
        ("candidates", "candidate_id,label,lat,lon\nR1,x,53.4,-2.2\nR2,y,53.4,-2.2,extra\n",
         "x.csv: row 3 has 5 values but the header names 4 columns (a value containing a "
         "comma must be in double quotes)"),
        # a dangling reference is named by its row in the file, not in the merged layer
        ("links", "person_id,address_id,relation\nP01,A01,frequents\nGHOST,A01,resides\n",
         "x.csv: error: links row 3 [person_id]: refers to people 'GHOST', which does not "
         "exist"),
    ],
)
def test_each_bad_import_is_one_line_and_changes_nothing(demo_dir, tmp_path, capsys, layer,
                                                          text, message):
    case = tmp_path / "case.gpkg"
    shutil.copy(demo_dir / "demo_case.gpkg", case)
    before = hashlib.sha256(case.read_bytes()).hexdigest()
    bad = tmp_path / "x.csv"
    bad.write_text(text)
    code, _, err = run(capsys, "import", str(case), layer, str(bad))
    assert code == 2
    assert one_line(err) == f"safeplan import: {message}"
    assert hashlib.sha256(case.read_bytes()).hexdigest() == before


def test_geocode_with_no_postcode_in_an_installed_area(capsys):
    code, out, err = run(capsys, "geocode", "M1", "1AD")  # unquoted: two arguments
    assert (code, out) == (2, "")
    assert one_line(err) == ("safeplan geocode: 2 postcodes could not be geocoded: row 1 'M1' "
                             "is not a valid UK postcode; row 2 '1AD' is not a valid UK "
                             "postcode")
    table = geocode_lookup(["ZZ99 9ZZ", "BT1 1AA"])
    assert table["status"].tolist() == ["unknown", "unknown"]
    assert table["easting"].isna().all()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["frobnicate"], "safeplan: argument COMMAND: invalid choice: 'frobnicate'"),
        (["geocode"], "safeplan geocode: the following arguments are required: POSTCODE"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(argv, message, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert one_line(capsys.readouterr().err).startswith(message)


def test_import_into_an_unknown_layer(demo_dir, capsys):
    code, _, err = run(capsys, "import", str(demo_dir / "demo_case.gpkg"), "suspects",
                       str(demo_dir / "demo_vacancies.csv"))
    assert code == 2
    assert "unknown layer 'suspects'" in one_line(err)


def test_every_subcommand_has_help():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert {"demo", "validate", "geocode", "import"} <= set(sub.choices)
    for name, p in sub.choices.items():
        text = p.format_help()
        assert name in text
        assert "usage:" in text


def test_the_installed_command_runs():
    beside = Path(sys.executable).parent / "safeplan"
    exe = str(beside) if beside.exists() else shutil.which("safeplan")
    assert exe, "the safeplan command is not installed"
    out = subprocess.run([exe, "geocode", "M1 1AD"],
                         capture_output=True, text=True, check=False)
    assert out.returncode == 0
    assert "M1 1AD,53.483768,-2.244869" in out.stdout
    bad = subprocess.run([sys.executable, "-m", "geo.cli", "validate", "/nope.gpkg"],
                         capture_output=True, text=True, check=False)
    assert bad.returncode == 2
    assert bad.stderr == "safeplan validate: /nope.gpkg: no such file\n"


def test_imports_into_one_case_file_at_once_lose_no_rows(demo_dir, tmp_path):
    """Four people import into the same GeoPackage at the same moment: every row arrives."""
    from geo.io import read_case

    case = tmp_path / "shared.gpkg"
    shutil.copy(demo_dir / "demo_case.gpkg", case)
    postcodes = ["M1 1AD", "SK3 9EE", "M14 4PX", "M20 2RN"]
    runs = []
    for i, postcode in enumerate(postcodes):
        f = tmp_path / f"p{i}.csv"
        f.write_text(f"candidate_id,label,postcode\nPAR{i},Flat {i},{postcode}\n")
        runs.append(subprocess.Popen(
            [sys.executable, "-m", "geo.cli", "import", str(case), "candidates", str(f)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    results = [(r.wait(timeout=120), r.stderr.read()) for r in runs]
    assert all(code == 0 for code, _ in results), results
    ids = set(read_case(case)["candidates"]["candidate_id"])
    assert {f"PAR{i}" for i in range(4)} <= ids


def test_rank_writes_the_contract_columns(demo_dir, tmp_path, capsys):
    import pandas as pd

    out = tmp_path / "ranked.csv"
    code, printed, err = run(capsys, "rank", str(demo_dir / "demo_case.gpkg"), "--out",
                             str(out), "--as-of", "2026-11-25", "--show", "3")
    assert code == 0, err
    assert printed.splitlines()[0] == "ranked 320 candidates: 163 eligible, 157 not"
    frame = pd.read_csv(out)
    assert list(frame.columns) == [
        "rank", "candidate_id", "label", "postcode", "lat", "lon", "eligible", "score",
        "threat_score", "nearest_threat", "nearest_threat_m", "school_min",
        "school_min_estimated", "reasons"]
    assert frame["rank"].tolist() == list(range(1, 321))
    assert frame["eligible"].iloc[0]
    assert not frame["eligible"].iloc[-1]
    assert frame["reasons"].iloc[-1].startswith("Not eligible: ")


def test_rank_for_another_household_and_with_a_policy(demo_dir, tmp_path, capsys):
    policy = tmp_path / "strict.toml"
    policy.write_text("[limits]\nmax_school_min = 15\n")
    code, printed, err = run(capsys, "rank", str(demo_dir / "demo_case.gpkg"), "--out",
                             str(tmp_path / "r.geojson"), "--for", "P05,P06,P07",
                             "--policy", str(policy), "--as-of", "2026-11-25")
    assert code == 0, err
    n_ok = int(printed.split(": ")[1].split()[0])
    assert 0 < n_ok < 100
    bad = tmp_path / "bad.toml"
    bad.write_text("[limits]\nmax_school_mins = 15\n")
    code, _, err = run(capsys, "rank", str(demo_dir / "demo_case.gpkg"), "--out",
                       str(tmp_path / "r.csv"), "--policy", str(bad))
    assert code == 2
    assert one_line(err) == ("safeplan rank: bad.toml: unknown policy key "
                             "'limits.max_school_mins'; did you mean 'limits.max_school_min'?")


def test_rank_other_candidates_from_a_vacancy_list(demo_dir, tmp_path, capsys):
    import pandas as pd

    out = tmp_path / "r.csv"
    code, printed, err = run(capsys, "rank", str(demo_dir / "demo_case.gpkg"),
                             "--candidates", str(demo_dir / "demo_vacancies.csv"),
                             "--out", str(out))
    assert code == 0, err
    assert printed.startswith("ranked 40 candidates")
    assert pd.read_csv(out)["candidate_id"].str.startswith("N-").all()
    bad = tmp_path / "v.csv"
    bad.write_text("candidate_id,label,postcode\nN1,x,M1 1AD\nN2,y,XX9 9XX\n")
    code, _, err = run(capsys, "rank", str(demo_dir / "demo_case.gpkg"), "--candidates",
                       str(bad), "--out", str(out))
    assert code == 2
    assert "row 3 (N2) [postcode]: 'XX9 9XX' is not in Code-Point Open" in one_line(err)


def test_zones_and_hotspots_commands(demo_dir, tmp_path, capsys):
    import pyogrio

    code, printed, err = run(capsys, "zones", str(demo_dir / "demo_case.gpkg"), "--out",
                             str(tmp_path / "zones.kml"), "--as-of", "2026-11-25")
    assert code == 0, err
    assert "X02: Within 1 km of shootings (INC-001)" in printed
    assert len(pyogrio.read_dataframe(tmp_path / "zones.kml")) == 11
    code, printed, err = run(capsys, "hotspots", str(demo_dir / "demo_case.gpkg"), "--out",
                             str(tmp_path / "hot.geojson"), "--as-of", "2026-11-25")
    assert code == 0, err
    assert printed.startswith("HS-G-HER-1: 9 incidents")
    assert len(pyogrio.read_dataframe(tmp_path / "hot.geojson")) == 3


def test_engine_commands_need_an_output(demo_dir, capsys):
    with pytest.raises(SystemExit) as info:
        main(["zones", str(demo_dir / "demo_case.gpkg")])
    assert info.value.code == 2
    assert "--out" in one_line(capsys.readouterr().err)


def test_bad_as_of_date(demo_dir, tmp_path, capsys):
    code, _, err = run(capsys, "zones", str(demo_dir / "demo_case.gpkg"), "--out",
                       str(tmp_path / "z.csv"), "--as-of", "yesterday")
    assert code == 2
    assert one_line(err).startswith("safeplan zones: --as-of: 'yesterday' is not a date")
