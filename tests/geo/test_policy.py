"""The risk policy: documented defaults, overrides in order, every error refused by name."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pandas as pd
import pytest

from geo.errors import PolicyError
from geo.settings import Policy
from geo.sources import policy_for_case

POLICY_FILE = Path(__file__).resolve().parents[2] / "geo" / "policy.toml"


def test_every_key_of_the_default_file_is_commented_with_its_meaning():
    lines = POLICY_FILE.read_text().splitlines()
    keys = [(i, ln) for i, ln in enumerate(lines) if re.match(r"^[a-z_]+ = ", ln)]
    assert len(keys) > 60
    for i, line in keys:
        table = next(lines[j] for j in range(i, -1, -1) if lines[j].startswith("["))
        commented = "#" in line or lines[i - 1].startswith("#") or (
            # a table of multipliers is explained once, on its header
            "#" in table and lines[i - 1] != "")
        assert commented, f"policy.toml line {i + 1} has no comment: {line}"


def test_source_kinds_the_issue_asks_for_exist():
    p = Policy.default()
    for kind in ("rival_area", "incident", "linked_address", "subject_home", "frequented"):
        assert p.get(f"sources.{kind}.bandwidth_m") > 0
    assert p.get("sources.incident.kind.shooting") > p.get("sources.incident.kind.assault")
    assert p.get("sources.incident.confidence.high") > p.get("sources.incident.confidence.low")
    assert p.get("sources.incident.half_life_days") == 180


def test_overrides_apply_in_order_and_record_where_they_came_from(tmp_path):
    f = tmp_path / "strict.toml"
    f.write_text("[limits]\nmax_school_min = 30\n")
    case_policy = "[limits]\nmax_school_min = 40\n[weights]\nthreat = 0.9\n"
    from geo.model import Case

    case = Case({"policy": pd.DataFrame({"toml": [case_policy]})})
    p = policy_for_case(case, files=[f])
    assert p.get("limits.max_school_min") == 30  # the file wins over the case
    assert p.get("weights.threat") == 0.9  # the case's own value stays
    assert p.origins == ("defaults", "the case's policy", "strict.toml")
    assert tomllib.loads(p.to_toml()) == {"limits": {"max_school_min": 30},
                                          "weights": {"threat": 0.9}}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[sources.incident]\nhalflife_days = 90\n",
         "x.toml: unknown policy key 'sources.incident.halflife_days'; did you mean "
         "'sources.incident.half_life_days'?"),
        ("[nonsense]\na = 1\n", "x.toml: unknown policy key 'nonsense'"),
        ("[weights]\nthreat = -0.1\n",
         "x.toml: policy key 'weights.threat' must be between 0 and 10, got -0.1"),
        ("[sources.incident.exclude_m]\nshooting = 60000\n",
         "x.toml: policy key 'sources.incident.exclude_m.shooting' must be between 0 and "
         "50000 metres, got 60000"),
        ("[sources.incident]\nhalf_life_days = 0\n",
         "x.toml: policy key 'sources.incident.half_life_days' must be between 1 and 3650 "
         "days, got 0"),
        ("[sources.incident]\nfloor = 1.5\n",
         "x.toml: policy key 'sources.incident.floor' must be between 0 and 1, got 1.5"),
        ("[travel]\ndetour_factor = 0.5\n",
         "x.toml: policy key 'travel.detour_factor' must be between 1 and 3, got 0.5"),
        ("[travel]\nspeed_kph = 200\n",
         "x.toml: policy key 'travel.speed_kph' must be between 1 and 130 km/h, got 200"),
        ("[limits]\nmax_school_min = \"soon\"\n",
         "x.toml: policy key 'limits.max_school_min' must be a number, got 'soon'"),
        ("[rules]\nown_group_areas = 1\n",
         "x.toml: policy key 'rules.own_group_areas' must be true or false, got 1"),
        ("[hotspots]\nmin_incidents = 2.5\n",
         "x.toml: policy key 'hotspots.min_incidents' must be a whole number, got 2.5"),
        ("[hotspots]\nmin_incidents = 1\n",
         "x.toml: policy key 'hotspots.min_incidents' must be between 2 and 100, got 1"),
        ("weights = 3\n", "x.toml: policy key 'weights' must be a table of keys, got 3"),
        ("[weights\n", "x.toml: not valid TOML"),
        ("[sources.rival_area.kind]\ncastle = 1.0\n",
         "x.toml: unknown policy key 'sources.rival_area.kind.castle'"),
        # sizes that would divide by zero or silently switch a rule off
        ("[hotspots]\neps_m = 0\n",
         "x.toml: policy key 'hotspots.eps_m' must be between 1 and 50000 metres, got 0"),
        ("[scale]\nsupport_km = 0\n",
         "x.toml: policy key 'scale.support_km' must be between 0.1 and 500 kilometres, got 0"),
        ("[sources.incident]\nbandwidth_m = 0\n",
         "x.toml: policy key 'sources.incident.bandwidth_m' must be between 1 and 50000 "
         "metres, got 0"),
        ("[network]\nmax_snap_m = 0\n",
         "x.toml: policy key 'network.max_snap_m' must be between 1 and 50000 metres, got 0"),
        ("[network]\nmode = \"cycle\"\n",
         "x.toml: policy key 'network.mode' must be one of drive, walk, got 'cycle'"),
        ("[network]\nmode = 1\n", "x.toml: policy key 'network.mode' must be text, got 1"),
    ],
)
def test_each_policy_error_is_refused_by_name(text, message):
    with pytest.raises(PolicyError, match=re.escape(message)):
        Policy.default().with_overrides(text, origin="x.toml")


def test_a_bad_policy_stored_in_the_case_is_refused_by_name():
    from geo.model import Case

    case = Case({"policy": pd.DataFrame({"toml": ["[hotspots]\neps_m = 0\n"]})})
    with pytest.raises(PolicyError, match=re.escape(
            "the case's policy: policy key 'hotspots.eps_m' must be between 1 and 50000")):
        policy_for_case(case)


def test_a_missing_policy_file(tmp_path):
    with pytest.raises(PolicyError.__mro__[1], match="cannot read policy file"):
        Policy.default().with_file(tmp_path / "none.toml")


def test_defaults_are_not_shared_between_policies():
    a = Policy.default()
    b = a.with_overrides({"weights": {"threat": 2.0}}, origin="t")
    assert a.get("weights.threat") == 0.6
    assert b.get("weights.threat") == 2.0
    assert Policy.default().get("weights.threat") == 0.6
