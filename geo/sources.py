"""Who is at risk from whom: the rules that turn a case into threat sources.

The rules are data (:data:`RULES`), shown in the README and the app, and each source carries
the rule that made it one. In words:

- **Rivals** are every group other than the subject's (every group, if the subject has none).
- R1 A rival group's activity area is a source (``rival_area``).
- R2 The subject's own group's activity area is a soft source with no exclusion
  (``own_area``, if ``rules.own_group_areas``): rivals come there to attack.
- R3 An incident attributed to a rival group is a source (``incident``).
- R4 An incident aimed at an address linked to the subject or to anyone close to him is a
  source, whoever it is attributed to.
- R5 An incident with neither group nor target counts at ``rules.unattributed_multiplier``
  (if ``rules.include_unattributed_incidents``).
- R6 Every address the subject resides or resided at is a source, known to rivals or not
  (``subject_home``): rivals go there when they cannot find him.
- R7 Every address the subject frequents or works at is a source (``frequented``).
- R8 Any other address known to rivals is a source (``linked_address``): family,
  associates, a business, a compromised placement. Schools and support addresses are not:
  they are where the family goes, checked by the school run and route checks instead.
- R9 Every address linked to a rival is a source (``rival_address``).
- An address that several of R6 to R9 match counts once, under the first of R6, R8, R7, R9.
- R10 The case's exclusion zones, and its no-go areas that apply to anyone being relocated,
  are hard exclusions (see :class:`Household`).
- Not sources: incidents by the subject's own group that were not aimed at his people;
  schools; support addresses; candidates.

Each source has a ``strength`` (weight x multipliers x fade), an ``exclude_m`` and a
``bandwidth_m`` taken from the policy (:mod:`geo.settings`, ``policy.toml``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.crs import BNG
from geo.errors import InputError
from geo.model import Case
from geo.settings import Policy

SOURCE_KINDS = (
    "rival_area",
    "own_area",
    "incident",
    "subject_home",
    "linked_address",
    "frequented",
    "rival_address",
)


@dataclass(frozen=True)
class Rule:
    """One rule of who is at risk from whom."""

    rule_id: str
    kind: str
    text: str


RULES: tuple[Rule, ...] = (
    Rule("R1", "rival_area", "A rival group's activity area (rivals: every group but the "
         "subject's)."),
    Rule("R2", "own_area", "The subject's own group's activity area: a soft threat with no "
         "exclusion, as rivals come there to attack."),
    Rule("R3", "incident", "An incident attributed to a rival group."),
    Rule("R4", "incident", "An incident aimed at an address linked to the subject or to "
         "anyone close to him, whoever it is attributed to."),
    Rule("R5", "incident", "An incident with neither group nor target, at a reduced weight."),
    Rule("R6", "subject_home", "The subject's current and former homes, known to rivals or "
         "not: rivals go there when they cannot find him."),
    Rule("R7", "frequented", "Places the subject frequents or works at."),
    Rule("R8", "linked_address", "Any other address known to rivals (family, associates, a "
         "business, a compromised placement), except schools and support addresses."),
    Rule("R9", "rival_address", "Where rivals live."),
    Rule("R10", "zone", "The case's exclusion zones, and no-go areas that apply to anyone "
         "being relocated."),
)

_KIND_WORDS = {
    "subject_home": "the subject's home",
    "linked_address": "known to rivals",
    "frequented": "the subject goes there",
    "rival_address": "a rival lives there",
}
_SOURCE_COLUMNS = ["source_id", "kind", "ref", "label", "rule", "group_id", "strength",
                   "exclude_m", "bandwidth_m", "fade", "occurred_at"]


def policy_for_case(case: Case, *, files: Iterable[str] = ()) -> Policy:
    """The defaults, then the case's ``policy`` layer, then each policy file in turn."""
    policy = Policy.default()
    layer = case["policy"]
    if len(layer) and not pd.isna(layer["toml"].iloc[0]):
        policy = policy.with_overrides(str(layer["toml"].iloc[0]), origin="the case's policy")
    for path in files:
        policy = policy.with_file(path)
    return policy


def subject_ids(case: Case) -> list[str]:
    """The people with the role ``subject``; a case without one cannot be assessed."""
    people = case["people"]
    ids = people.loc[people["role"] == "subject", "person_id"].astype(str).tolist()
    if not ids:
        msg = "the case has no person with the role 'subject'; add the threatened person first"
        raise InputError(msg)
    return ids


def rival_groups(case: Case) -> set[str]:
    """Every group other than the subject's (all groups if the subject has no group)."""
    people = case["people"]
    own = set(people.loc[people["role"] == "subject", "group_id"].dropna().astype(str))
    return set(case["groups"]["group_id"].astype(str)) - own


def fade(occurred_at: pd.Series, *, as_of: dt.datetime, half_life_days: float,
         floor: float) -> np.ndarray:
    """How much of an incident's threat is left: halves every ``half_life_days``, never
    below ``floor`` (an incident dated after ``as_of`` counts in full)."""
    when = pd.to_datetime(occurred_at, format="ISO8601")
    age_days = np.clip((pd.Timestamp(as_of) - when).dt.total_seconds().to_numpy() / 86_400,
                       0.0, None)
    return floor + (1.0 - floor) * np.power(0.5, age_days / half_life_days)


def _group_names(case: Case) -> dict[str, str]:
    g = case["groups"]
    return dict(zip(g["group_id"].astype(str), g["name"].astype(str), strict=True))


def _date_words(iso: pd.Series) -> pd.Series:
    stamps = pd.to_datetime(iso, format="ISO8601")
    return stamps.dt.day.astype(str) + stamps.dt.strftime(" %b %Y")


def threat_sources(case: Case, policy: Policy, *, as_of: dt.datetime | None = None,
                   hotspots: gpd.GeoDataFrame | None = None) -> gpd.GeoDataFrame:
    """Every threat source of a case, by the rules above, with its strength and radii.

    Parameters
    ----------
    case
        A validated case.
    policy
        The risk policy.
    as_of
        The moment incidents fade to (default: now).
    hotspots
        Derived hot spots (:func:`geo.hotspots.find_hotspots`) to add as activity areas.

    Returns
    -------
    GeoDataFrame in EPSG:27700 with ``source_id, kind, ref, label, rule, group_id, strength,
    exclude_m, bandwidth_m, fade, occurred_at`` and the source's geometry, in a fixed order
    (by kind as in :data:`SOURCE_KINDS`, then ``ref``).
    """
    as_of = as_of or dt.datetime.now()
    subjects = set(subject_ids(case))
    rivals = rival_groups(case)
    names = _group_names(case)
    people = case["people"]
    links = case["links"]
    addresses = case["addresses"]
    rules = policy.table("rules")
    parts: list[gpd.GeoDataFrame] = []

    areas = case["activity_areas"]
    if hotspots is not None and len(hotspots):
        areas = pd.concat([areas, hotspots[areas.columns.intersection(hotspots.columns)]],
                          ignore_index=True)
        areas = gpd.GeoDataFrame(areas, geometry="geometry", crs=BNG)
    if len(areas):
        rival = areas["group_id"].astype(str).isin(rivals).to_numpy()
        for kind, mask, rule in (("rival_area", rival, "R1"), ("own_area", ~rival, "R2")):
            if kind == "own_area" and not rules["own_group_areas"]:
                continue
            chosen = areas[mask]
            if not len(chosen):
                continue
            p = policy.table(f"sources.{kind}")
            mult = (chosen["kind"].map(p["kind"]).fillna(1.0).to_numpy()
                    * chosen["confidence"].map(p["confidence"]).fillna(1.0).to_numpy())
            group = chosen["group_id"].astype(str)
            label = (group.map(names).fillna(group) + " "
                     + chosen["kind"].astype(str).str.replace("_", " ") + " "
                     + chosen["area_id"].astype(str)
                     + (" (the subject's own group)" if kind == "own_area" else ""))
            parts.append(_frame(kind, chosen["area_id"], label, rule, group,
                                p["weight"] * mult, p["exclude_m"], p["bandwidth_m"],
                                np.ones(len(chosen)), None, chosen.geometry))

    incidents = case["incidents"]
    if len(incidents):
        close_people = set(people.loc[people["role"] != "rival", "person_id"].astype(str))
        close_addresses = set(links.loc[links["person_id"].astype(str).isin(close_people),
                                        "address_id"].astype(str))
        group = incidents["group_id"]
        target = incidents["target_address_id"]
        by_rival = group.astype(str).isin(rivals).to_numpy() & group.notna().to_numpy()
        aimed = target.astype(str).isin(close_addresses).to_numpy() & target.notna().to_numpy()
        neither = group.isna().to_numpy() & target.isna().to_numpy()
        rule = np.where(by_rival, "R3", np.where(aimed, "R4", "R5"))
        keep = by_rival | aimed | (neither & bool(rules["include_unattributed_incidents"]))
        chosen = incidents[keep]
        if len(chosen):
            p = policy.table("sources.incident")
            left = fade(chosen["occurred_at"], as_of=as_of,
                        half_life_days=p["half_life_days"], floor=p["floor"])
            mult = (chosen["kind"].map(p["kind"]).fillna(1.0).to_numpy()
                    * chosen["confidence"].map(p["confidence"]).fillna(1.0).to_numpy())
            mult = np.where(rule[keep] == "R5", mult * rules["unattributed_multiplier"], mult)
            age_days = (pd.Timestamp(as_of) - pd.to_datetime(
                chosen["occurred_at"], format="ISO8601")).dt.days.to_numpy()
            exclude = chosen["kind"].map(p["exclude_m"]).fillna(0.0).to_numpy(float)
            exclude = np.where(age_days > p["exclude_max_age_days"], 0.0, exclude)
            g = chosen["group_id"].astype(str)
            who = g.map(names).where(chosen["group_id"].notna(), "unattributed")
            label = (chosen["kind"].astype(str).str.replace("_", " ") + " "
                     + chosen["incident_id"].astype(str) + " ("
                     + _date_words(chosen["occurred_at"]) + ", " + who.astype(str) + ")")
            parts.append(_frame("incident", chosen["incident_id"], label, rule[keep],
                                chosen["group_id"], p["weight"] * mult * left, exclude,
                                p["bandwidth_m"], left, chosen["occurred_at"],
                                chosen.geometry))

    if len(addresses):
        subj_links = links[links["person_id"].astype(str).isin(subjects)]
        rival_people = set(people.loc[people["role"] == "rival", "person_id"].astype(str))
        homes = set(subj_links.loc[subj_links["relation"].isin(["resides", "resided"]),
                                   "address_id"].astype(str))
        haunts = set(subj_links.loc[subj_links["relation"].isin(["frequents", "works"]),
                                    "address_id"].astype(str))
        rival_homes = set(links.loc[links["person_id"].astype(str).isin(rival_people),
                                    "address_id"].astype(str))
        ids = addresses["address_id"].astype(str)
        destination = addresses["kind"].isin(["school", "support"]).to_numpy()
        known = addresses["known_to_rivals"].to_numpy(bool)
        # an address that several rules match counts once, under the first of R6, R8, R7, R9
        home = ids.isin(homes).to_numpy()
        linked = known & ~home & ~destination
        haunt = ids.isin(haunts).to_numpy() & ~home & ~linked
        rival_home = ids.isin(rival_homes).to_numpy() & ~home & ~linked & ~haunt
        kinds = {
            "subject_home": (home, "R6"),
            "linked_address": (linked, "R8"),
            "frequented": (haunt, "R7"),
            "rival_address": (rival_home, "R9"),
        }
        for kind, (mask, rule) in kinds.items():
            chosen = addresses[mask]
            if not len(chosen):
                continue
            p = policy.table(f"sources.{kind}")
            label = (chosen["label"].astype(str) + " (" + chosen["address_id"].astype(str)
                     + ", " + _KIND_WORDS[kind] + ")")
            parts.append(_frame(kind, chosen["address_id"], label, rule, None,
                                np.full(len(chosen), p["weight"]), p["exclude_m"],
                                p["bandwidth_m"], np.ones(len(chosen)), None, chosen.geometry))

    if not parts:
        return gpd.GeoDataFrame({c: [] for c in _SOURCE_COLUMNS},
                                geometry=gpd.GeoSeries([], crs=BNG), crs=BNG)
    out = pd.concat(parts, ignore_index=True)
    order = out["kind"].map({k: i for i, k in enumerate(SOURCE_KINDS)})
    out = out.assign(_order=order).sort_values(["_order", "ref"], kind="stable")
    out = out.drop(columns="_order").reset_index(drop=True)
    return gpd.GeoDataFrame(out, geometry="geometry", crs=BNG)


def _frame(kind, ref, label, rule, group, strength, exclude_m, bandwidth_m, left, occurred,
           geometry) -> gpd.GeoDataFrame:
    n = len(geometry)
    ref = pd.Series(ref).astype(str).to_numpy()
    return gpd.GeoDataFrame(
        {
            "source_id": [f"{kind}:{r}" for r in ref],
            "kind": kind,
            "ref": ref,
            "label": pd.Series(label).astype(str).to_numpy(),
            "rule": np.broadcast_to(np.asarray(rule, dtype=object), (n,)),
            "group_id": (pd.Series(group).to_numpy() if group is not None
                         else np.full(n, None, dtype=object)),
            "strength": np.broadcast_to(np.asarray(strength, float), (n,)).copy(),
            "exclude_m": np.broadcast_to(np.asarray(exclude_m, float), (n,)).copy(),
            "bandwidth_m": np.broadcast_to(np.asarray(bandwidth_m, float), (n,)).copy(),
            "fade": np.asarray(left, float),
            "occurred_at": (pd.Series(occurred).to_numpy() if occurred is not None
                            else np.full(n, None, dtype=object)),
        },
        geometry=np.asarray(geometry.values if hasattr(geometry, "values") else geometry,
                            dtype=object),
        crs=BNG,
    )


@dataclass(frozen=True)
class Household:
    """The people being relocated and what their move must respect.

    Attributes
    ----------
    person_ids
        Who is moving.
    schools
        The schools the household's children attend: ``address_id, label, pupils``.
    support
        The household's support network addresses: ``address_id, label``.
    zones
        Zones that exclude a home for this household: every ``exclusion`` zone, and the
        ``no_go`` zones that apply to everyone or to someone in the household.
    note
        How the household was chosen, in words.
    """

    person_ids: tuple[str, ...]
    schools: gpd.GeoDataFrame
    support: gpd.GeoDataFrame
    zones: gpd.GeoDataFrame
    note: str

    def label(self, case: Case) -> str:
        people = case["people"].set_index("person_id")
        return ", ".join(str(people.loc[p, "label"]) for p in self.person_ids)


def household(case: Case, person_ids: Iterable[str] | None = None) -> Household:
    """The household being relocated: given, or chosen by a stated rule.

    Without ``person_ids``: the people who reside at a ``temporary`` address (moved in an
    emergency); failing that, the subject's partner and children with a high risk to life;
    failing that, the subject's partner and children.

    Raises
    ------
    InputError
        An unknown person id, or no household can be found.
    """
    people = case["people"]
    links = case["links"]
    addresses = case["addresses"]
    known = set(people["person_id"].astype(str))
    if person_ids is not None:
        chosen = [p.strip() for p in person_ids if p and p.strip()]
        unknown = [p for p in chosen if p not in known]
        if unknown:
            msg = f"unknown person id(s): {', '.join(unknown)}"
            raise InputError(msg)
        if not chosen:
            msg = "no person given to relocate"
            raise InputError(msg)
        note = "the people chosen"
    else:
        temporary = set(addresses.loc[addresses["kind"] == "temporary", "address_id"].astype(str))
        moved = links[(links["relation"] == "resides")
                      & links["address_id"].astype(str).isin(temporary)]
        chosen = sorted(set(moved["person_id"].astype(str)) - set(subject_ids(case)))
        note = "the people living at a temporary address"
        if not chosen:
            family = people[people["role"].isin(["partner", "child"])]
            high = family[family["ttl_risk"] == "high"]
            chosen = sorted((high if len(high) else family)["person_id"].astype(str))
            note = ("the subject's partner and children at high risk" if len(high)
                    else "the subject's partner and children")
        if not chosen:
            msg = ("cannot tell who is being relocated: give the people "
                   "(for example --for P02,P03)")
            raise InputError(msg)
    members = set(chosen)
    mine = links[links["person_id"].astype(str).isin(members)]
    attends = mine[mine["relation"] == "attends"]
    schools = addresses[addresses["address_id"].isin(attends["address_id"])
                        & (addresses["kind"] == "school")]
    pupils = attends.groupby("address_id")["person_id"].agg(lambda s: ",".join(sorted(s)))
    schools = schools.assign(pupils=schools["address_id"].map(pupils))
    support = addresses[(addresses["kind"] == "support")
                        & addresses["address_id"].isin(mine["address_id"])]
    if not len(support):
        support = addresses[addresses["kind"] == "support"]
    zones = case["zones"]
    if len(zones):
        applies = zones["applies_to"].fillna("").astype(str).str.split(",")
        for_us = applies.map(lambda ids: not [i for i in ids if i] or bool(members & set(ids)))
        zones = zones[(zones["kind"] == "exclusion")
                      | ((zones["kind"] == "no_go") & for_us.astype(bool))]
    return Household(tuple(chosen), schools.reset_index(drop=True),
                     support.reset_index(drop=True), zones.reset_index(drop=True), note)
