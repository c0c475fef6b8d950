"""People of the open case, as the screens choose them."""

from __future__ import annotations

from geo.agreement import ADULT_ROLES
from geo.errors import GeoError
from geo.model import Case
from geo.sources import household


def labels(case: Case) -> dict[str, str]:
    """Person id to label."""
    people = case["people"]
    return dict(zip(people["person_id"], people["label"], strict=True))


def default_household(case: Case) -> list[str]:
    """Who is being relocated by the case's own rule (empty when it cannot tell)."""
    try:
        return list(household(case).person_ids)
    except GeoError:
        return []


def adults(case: Case) -> list[str]:
    """The adults an agreement or no-go list can be made for (not the subject, not rivals)."""
    people = case["people"]
    return [p for p, r in zip(people["person_id"], people["role"], strict=True)
            if r in ADULT_ROLES]
