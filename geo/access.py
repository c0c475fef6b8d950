"""Need-to-know: what each role may see and do, enforced where the data leaves the store.

The app and the command reach stored cases through :class:`SecureStore`, a :class:`Store`
seen by one signed-in user. It checks, on every call, that the account is still enabled, its
role (as it is now in the database) and the case grants; it gives each role only its view of
a case; it refuses what the role may not do with :class:`~geo.errors.AccessDenied` (recorded
as ``access_denied``), and it records every case opened, change, export and print in the
audit trail (:mod:`geo.audit`), asking for a purpose before any export or print.

What each role may do is data (:data:`PERMISSIONS`, :data:`EDITABLE`), and so is what each
role sees of each layer (:data:`REDACTION`):

- ``admin``: the full view of every case; changes every layer; exports and prints; history
  and undo; users, access and the audit trail.
- ``analyst``: the full view of the cases granted; changes every layer; exports and prints;
  history and undo.
- ``housing``: candidates, safe areas and no-go areas without intelligence detail (no incident
  descriptions, targets or confidence, no activity-area sources or confidence, no notes, no
  rivals or associates, only the addresses the move must respect: schools, support, the
  temporary placement); changes candidates only; exports and prints its own view.
- ``social_worker``: the family's people, addresses, links and zones whole (it keeps them up
  to date and draws no-go areas for agreements), the same intelligence detail hidden as for
  housing; changes people, addresses, links and zones; exports and prints its own view.
- ``viewer``: the meeting view only (:mod:`geo.meeting`); changes, exports and prints nothing.

Admins may open every case; everyone else only the cases granted to them, and creating a case
grants it to its creator.

A view never half-hides a layer its role may edit: an editable layer is seen whole, so an
edit cannot overwrite what the editor cannot see. Hidden columns of the schema are kept but
emptied (so every engine function still finds its columns); columns outside the schema are
dropped unless the rule keeps them, and layers outside the schema are dropped for every role
but admin and analyst.

Analyses (exclusion zones, ranking, safe areas, no-go areas) need the whole threat picture,
so :meth:`CaseView.analysis_case` keeps every row and the numbers the threat model uses, but
replaces the text the role may not read (descriptions, sources, notes; the names of people
and addresses it does not see). In the meeting view even the analysis case leaves out where
the family lives (:mod:`geo.meeting`), and :meth:`CaseView.screen` cleans derived layers.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from sqlalchemy import select

from geo import audit, auth
from geo._dbschema import case_access
from geo.auth import ROLES, Role, User
from geo.errors import AccessDenied, InputError
from geo.meeting import (
    MEETING_HIDDEN,
    Meeting,
    blank_columns,
    meeting_case,
    role_labels,
)
from geo.model import LAYER_NAMES, LAYERS, Case

if TYPE_CHECKING:
    from geo.store import CaseInfo, Changes, Revision, RowChange, Store

ViewKind = Literal["full", "housing", "social_worker", "meeting"]
Permission = Literal[
    "open", "meeting_view", "analyse", "create_case", "archive", "history", "row_history",
    "undo", "export", "print", "manage_users", "read_audit", "street_file",
]

_ALL = frozenset(ROLES)
_STAFF = frozenset({"admin", "analyst", "housing", "social_worker"})
_FULL = frozenset({"admin", "analyst"})

#: Who may do what (on the cases they may open).
PERMISSIONS: dict[Permission, frozenset[Role]] = {
    "open": _ALL,
    "meeting_view": _ALL,
    "analyse": _ALL,
    "create_case": _FULL,
    "archive": _FULL,
    "history": _STAFF,
    "row_history": _FULL,
    "undo": _FULL,
    "export": _STAFF,
    "print": _STAFF,
    "manage_users": frozenset({"admin"}),
    "read_audit": frozenset({"admin"}),
    "street_file": frozenset({"admin", "analyst", "housing"}),
}

#: The layers each role may change.
EDITABLE: dict[Role, frozenset[str]] = {
    "admin": frozenset(LAYER_NAMES),
    "analyst": frozenset(LAYER_NAMES),
    "housing": frozenset({"candidates"}),
    "social_worker": frozenset({"people", "addresses", "links", "zones"}),
    "viewer": frozenset(),
}

#: Which view of a case each role gets from :meth:`SecureStore.open_case`.
#: What a viewer sees instead of a case title (a title may name the family).
TITLE_WITHHELD = "(title not shown in the meeting view)"
VIEWS: dict[Role, ViewKind] = {
    "admin": "full", "analyst": "full", "housing": "housing",
    "social_worker": "social_worker", "viewer": "meeting",
}


@dataclass(frozen=True)
class LayerRule:
    """What one role sees of one layer.

    Attributes
    ----------
    hide
        Columns of the schema kept but emptied.
    rows
        The name of a row filter in :data:`ROW_FILTERS`, or ``None`` for every row.
    extra_columns
        Whether columns outside the schema are kept.
    """

    hide: tuple[str, ...] = ()
    rows: str | None = None
    extra_columns: bool = False

    @property
    def whole(self) -> bool:
        """Every row and every column: the only kind of layer a role may edit."""
        return not self.hide and self.rows is None and self.extra_columns


WHOLE = LayerRule(extra_columns=True)
_INTEL = {
    "groups": LayerRule(hide=("notes",)),
    "activity_areas": LayerRule(hide=("source", "confidence")),
    "incidents": LayerRule(hide=("target_address_id", "description", "confidence")),
}

#: What each restricted view shows of each layer (a layer not listed is seen whole). The
#: full view sees everything, extra layers included; the meeting view is :mod:`geo.meeting`.
REDACTION: dict[ViewKind, dict[str, LayerRule]] = {
    "full": {},
    "housing": {
        "case": LayerRule(),
        **_INTEL,
        "people": LayerRule(hide=("group_id", "notes"), rows="not_rivals_or_associates"),
        "addresses": LayerRule(rows="move_addresses"),
        "links": LayerRule(rows="both_ends_seen"),
        "candidates": WHOLE,
        "zones": LayerRule(),
        "boundaries": LayerRule(),
        "policy": LayerRule(),
    },
    "social_worker": {
        "case": LayerRule(),
        **_INTEL,
        "people": WHOLE,
        "addresses": WHOLE,
        "links": WHOLE,
        "candidates": LayerRule(),
        "zones": WHOLE,
        "boundaries": LayerRule(),
        "policy": LayerRule(),
    },
}

#: Hidden columns that the threat model reads: kept in :meth:`CaseView.analysis_case`.
ANALYSIS_NEEDS: dict[str, frozenset[str]] = {
    "people": frozenset({"group_id"}),
    "incidents": frozenset({"target_address_id", "confidence"}),
    "activity_areas": frozenset({"confidence"}),
    "addresses": frozenset({"known_to_rivals"}),
}

#: Address kinds a housing officer sees: what the move must respect, and where the family is.
MOVE_ADDRESS_KINDS = ("school", "support", "temporary")
RowFilter = Callable[[pd.DataFrame, dict[str, pd.DataFrame]], np.ndarray]


def _not_rivals_or_associates(frame: pd.DataFrame, seen: dict[str, pd.DataFrame]) -> np.ndarray:
    return ~frame["role"].isin(["rival", "associate"]).to_numpy()


def _move_addresses(frame: pd.DataFrame, seen: dict[str, pd.DataFrame]) -> np.ndarray:
    return frame["kind"].isin(MOVE_ADDRESS_KINDS).to_numpy()


def _both_ends_seen(frame: pd.DataFrame, seen: dict[str, pd.DataFrame]) -> np.ndarray:
    people = set(seen["people"]["person_id"].astype(str))
    addresses = set(seen["addresses"]["address_id"].astype(str))
    return (frame["person_id"].astype(str).isin(people)
            & frame["address_id"].astype(str).isin(addresses)).to_numpy()


#: Row filters by name (they see the layers already filtered, in the case file's order).
ROW_FILTERS: dict[str, RowFilter] = {
    "not_rivals_or_associates": _not_rivals_or_associates,
    "move_addresses": _move_addresses,
    "both_ends_seen": _both_ends_seen,
}


def check_rules() -> None:
    """The rules are consistent: known layers, columns and filters; editable layers whole.

    Raises
    ------
    AssertionError
        A rule names an unknown layer, column or filter, or a role may edit a layer it does
        not see whole.
    """
    for view, rules in REDACTION.items():
        for layer, rule in rules.items():
            assert layer in LAYERS, (view, layer)
            assert set(rule.hide) <= set(LAYERS[layer].column_names), (view, layer, rule.hide)
            assert rule.rows is None or rule.rows in ROW_FILTERS, (view, layer, rule.rows)
    for role, layers in EDITABLE.items():
        view = VIEWS[role]
        for layer in layers:
            assert view != "meeting", (role, layer)
            assert REDACTION[view].get(layer, WHOLE).whole, (role, layer)


@dataclass(frozen=True)
class Redacted:
    """A case as one view shows it, and what was left out."""

    case: Case
    keys: dict[str, list[str]]
    hidden: dict[str, tuple[str, ...]]
    withheld: dict[str, int]
    analysis_case: Case


def redact(case: Case, view: ViewKind, keys: dict[str, list[str]] | None = None) -> Redacted:
    """The case as ``view`` shows it (see :data:`REDACTION`), with the analysis case.

    Parameters
    ----------
    case
        A validated case.
    view
        ``full``, ``housing`` or ``social_worker`` (the meeting view is
        :func:`geo.meeting.meeting_case`).
    keys
        Row keys per layer (:attr:`geo.store.LoadedCase.keys`), filtered like the rows.
    """
    if view == "meeting":
        msg = "the meeting view comes from geo.meeting.meeting_case"
        raise InputError(msg)
    rules = REDACTION[view]
    keys = keys or {}
    if not rules:
        return Redacted(case, dict(keys), {}, {}, case)
    labels = role_labels(case["people"])
    shown: dict[str, pd.DataFrame] = {}
    analysis: dict[str, pd.DataFrame] = {}
    shown_keys: dict[str, list[str]] = {}
    hidden: dict[str, tuple[str, ...]] = {}
    withheld: dict[str, int] = {}
    for layer in LAYER_NAMES:
        frame = case[layer]
        rule = rules.get(layer, WHOLE)
        layer_keys = keys.get(layer)
        if not rule.extra_columns:
            schema = LAYERS[layer].column_names
            frame = frame[[c for c in frame.columns if c in schema or c == "geometry"]]
        keep = (np.ones(len(frame), dtype=bool) if rule.rows is None
                else ROW_FILTERS[rule.rows](frame, shown))
        out = frame[keep].reset_index(drop=True)
        if rule.hide:
            out = blank_columns(out, rule.hide)
            hidden[layer] = rule.hide
        shown[layer] = out
        if layer_keys is not None:
            shown_keys[layer] = [k for k, kept in zip(layer_keys, keep, strict=True) if kept]
        if not keep.all():
            withheld[layer] = int((~keep).sum())
        needs = ANALYSIS_NEEDS.get(layer, frozenset())
        full = blank_columns(frame, [c for c in rule.hide if c not in needs])
        if layer == "people" and not keep.all():
            full = full.assign(label=np.where(keep, full["label"],
                                              full["person_id"].astype(str).map(labels)))
        if layer == "addresses" and not keep.all():
            ids = full["address_id"].astype(str)
            full = full.assign(
                label=np.where(keep, full["label"], "withheld address " + ids),
                postcode=full["postcode"].where(keep, None))
        analysis[layer] = full
    return Redacted(Case(shown), shown_keys, hidden, withheld, Case(analysis))


@dataclass(frozen=True)
class CaseView:
    """One user's view of a stored case.

    Attributes
    ----------
    info
        The case's reference, title, version and status.
    case
        What the user may see: show this.
    keys
        Row keys of ``case``'s layers, for edits (:class:`geo.store.Changes`).
    role, view
        Whose view it is: the role, and ``full``, ``housing``, ``social_worker`` or
        ``meeting``.
    hidden
        Columns emptied, by layer.
    withheld
        Rows left out, by layer.
    """

    info: CaseInfo
    case: Case
    keys: dict[str, list[str]]
    role: Role
    view: ViewKind
    hidden: dict[str, tuple[str, ...]] = field(default_factory=dict)
    withheld: dict[str, int] = field(default_factory=dict)
    _analysis: Case | None = field(default=None, repr=False)
    _meeting: Meeting | None = field(default=None, repr=False)

    @property
    def ref(self) -> str:
        return self.info.ref

    @property
    def version(self) -> int:
        return self.info.version

    @property
    def note(self) -> str:
        """What the view leaves out, in words ("" for the full view)."""
        if self._meeting is not None:
            return self._meeting.note
        if not self.hidden and not self.withheld:
            return ""
        rows = ", ".join(f"{n} {layer.replace('_', ' ')}" for layer, n in self.withheld.items())
        cols = "; ".join(f"{layer}: {', '.join(c)}" for layer, c in self.hidden.items())
        return (f"Need-to-know view for the {self.role.replace('_', ' ')} role. Not shown: "
                f"{rows or 'no rows'}; columns {cols or 'none'}.")

    def may_edit(self, layer: str) -> bool:
        """Whether this view's role may change ``layer``."""
        return self.view != "meeting" and layer in EDITABLE[self.role]

    def analysis_case(self) -> Case:
        """The case to compute derived layers from (zones, ranking, areas, no-go areas).

        Every row and the numbers the threat model reads are there; text the role may not
        read is not. Show the *results*; show :attr:`case`, never this, as data.
        """
        return self._analysis if self._analysis is not None else self.case

    def screen(self, frame: pd.DataFrame) -> pd.DataFrame:
        """A derived layer made safe for this view: in the meeting view, rows at or near
        where the family lives (or may live) removed and names replaced by roles; in other
        views, unchanged."""
        return self._meeting.screen(frame) if self._meeting is not None else frame


def check_purpose(purpose: str | None, doing: str, *, how: str = "") -> str:
    """The purpose given for an export or print, tidied; refused when there is none.

    Raises
    ------
    InputError
        No purpose (or fewer than three characters of one); the message says how to give it.
    """
    text = " ".join((purpose or "").split())
    if len(text) < 3:
        msg = (f"say why before you {doing}{how}: a purpose (for example 'strategy meeting "
               "12 Dec' or 'referral to housing provider') goes in the audit trail")
        raise InputError(msg)
    return text


def _change_summary(rows: list[RowChange]) -> dict[str, Any]:
    layers: dict[str, dict[str, list[str]]] = {}
    for r in rows:
        layers.setdefault(r.layer or "case", {}).setdefault(r.op, []).append(r.key)
    return {layer: {op: {"rows": len(ks), "keys": ks[:20]} for op, ks in ops.items()}
            for layer, ops in layers.items()}


class SecureStore:
    """The store as one signed-in user may use it (see the module notes).

    Parameters
    ----------
    store
        The store.
    user
        Who signed in (:func:`geo.auth.authenticate`). The role is read again from the
        database on every call, so a disabled account or a changed role or grant takes effect
        at once.
    """

    def __init__(self, store: Store, user: User):
        self.store = store
        self._username = user.username

    def __repr__(self) -> str:
        return f"SecureStore({self.store!r}, user={self._username!r})"

    # -- checks -------------------------------------------------------------------------------

    @property
    def user(self) -> User:
        """The signed-in user as the database has it now."""
        return auth.current_user(self.store, self._username)

    def _deny(self, message: str, *, doing: str, case_ref: str | None = None) -> AccessDenied:
        audit.record(self.store, user=self._username, action="access_denied",
                     case_ref=case_ref, what={"tried": doing})
        return AccessDenied(message)

    def _require(self, permission: Permission, *, doing: str,
                 case_ref: str | None = None) -> User:
        me = self.user
        if me.role not in PERMISSIONS[permission]:
            role = me.role.replace("_", " ")
            msg = f"the {role} role may not {doing}"
            raise self._deny(msg, doing=doing, case_ref=case_ref)
        if case_ref is not None:
            self._require_case(me, case_ref, doing=doing)
        return me

    def _may_open(self, me: User, ref: str) -> bool:
        if me.is_admin:
            return True
        with self.store.transaction(write=False) as conn:
            held = conn.execute(select(case_access.c.case_ref).where(
                case_access.c.username == me.username, case_access.c.case_ref == ref))
            return held.one_or_none() is not None

    def _require_case(self, me: User, ref: str, *, doing: str) -> None:
        if not self._may_open(me, ref):
            # the same words whether or not the case exists
            msg = (f"no case {ref!r} that you may open: ask an administrator for access if "
                   "you need it")
            raise self._deny(msg, doing=doing, case_ref=ref)
        if me.is_admin:
            self.store.case_info(ref)  # NotFound for an admin, who may know every case

    # -- listing and opening -----------------------------------------------------------------

    def list_cases(self, *, include_archived: bool = False) -> list[CaseInfo]:
        """The cases this user may open (admins: every case)."""
        me = self.user
        found = self.store.list_cases(include_archived=include_archived)
        if me.is_admin:
            return found
        with self.store.transaction(write=False) as conn:
            mine = set(auth.granted_cases(conn, me.username))
        return [self._titled(c) for c in found if c.ref in mine]

    def case_info(self, ref: str) -> CaseInfo:
        """One case's reference, title, version and status (no audit record)."""
        self._require("open", doing="see this case", case_ref=ref)
        return self._titled(self.store.case_info(ref))

    def _titled(self, info: CaseInfo) -> CaseInfo:
        """A viewer sees the meeting view only: a case title may name the family."""
        if VIEWS[self.user.role] == "meeting":
            return dataclasses.replace(info, title=TITLE_WITHHELD)
        return info

    def open_case(self, ref: str, *, purpose: str = "",
                  include_archived: bool = False) -> CaseView:
        """The case as this user's role may see it (a viewer gets the meeting view);
        recorded as ``case_open`` with the purpose, if given."""
        me = self._require("open", doing="open this case", case_ref=ref)
        if VIEWS[me.role] == "meeting":
            return self._meeting(me, ref, purpose=purpose, person_ids=None)
        info = self.store.case_info(ref)
        view = VIEWS[me.role]
        audit.record(self.store, user=me, action="case_open", case_ref=ref,
                     what={"view": view, "version": info.version}, why=purpose)
        loaded = self.store.load_case(ref, include_archived=include_archived)
        red = redact(loaded.case, view, loaded.keys)
        return CaseView(loaded.info, red.case, red.keys, me.role, view, red.hidden,
                        red.withheld, red.analysis_case)

    def meeting_view(self, ref: str, *, purpose: str = "",
                     person_ids: Iterable[str] | None = None) -> CaseView:
        """The meeting view (:mod:`geo.meeting`), for anyone who may open the case."""
        me = self._require("meeting_view", doing="open the meeting view", case_ref=ref)
        return self._meeting(me, ref, purpose=purpose, person_ids=person_ids)

    def _meeting(self, me: User, ref: str, *, purpose: str,
                 person_ids: Iterable[str] | None) -> CaseView:
        info = self.store.case_info(ref)
        audit.record(self.store, user=me, action="case_open", case_ref=ref,
                     what={"view": "meeting", "version": info.version}, why=purpose)
        loaded = self.store.load_case(ref)
        meeting = meeting_case(loaded.case, person_ids=person_ids)
        # a shared screen: the case's title may name the family
        info = dataclasses.replace(loaded.info, title=TITLE_WITHHELD)
        shown = meeting.case
        if "title" in shown["case"].columns:
            shown = shown.replace(case=shown["case"].assign(title=TITLE_WITHHELD))
        return CaseView(info, shown, {}, me.role, "meeting", dict(MEETING_HIDDEN),
                        {k: v for k, v in meeting.withheld.items() if v},
                        meeting.analysis_case, meeting)

    # -- changes ------------------------------------------------------------------------------

    def _require_edit(self, me: User, ref: str, layers: Iterable[str]) -> None:
        layers = sorted(set(layers))
        allowed = EDITABLE[me.role]
        refused = [layer for layer in layers if layer not in allowed]
        if refused:
            role = me.role.replace("_", " ")
            may = ", ".join(sorted(allowed)) or "nothing"
            msg = (f"the {role} role may not change {', '.join(refused)} (it may change: "
                   f"{may}); nothing was saved")
            raise self._deny(msg, doing=f"change {', '.join(refused)}", case_ref=ref)

    def create_case(self, case: Case, *, reason: str = "") -> str:
        """Store a new case and grant it to its creator; recorded as ``change``."""
        me = self._require("create_case", doing="create cases")
        ref = self.store.create_case(case, actor=me.username, reason=reason)
        auth.grant(self.store, me.username, ref, actor=me.username)
        audit.record(self.store, user=me, action="change", case_ref=ref,
                     what={"op": "create", "version": 1}, why=reason)
        return ref

    def save_changes(self, ref: str, changes: Changes, *, base_version: int,
                     reason: str = "") -> int:
        """:meth:`geo.store.Store.save_changes` for the layers this role may change."""
        me = self._require("open", doing="change this case", case_ref=ref)
        self._require_edit(me, ref, (op.layer for op in changes))
        version = self.store.save_changes(ref, changes, base_version=base_version,
                                          actor=me.username, reason=reason)
        self._record_change(me, ref, base_version, version, reason)
        return version

    def replace_layer(self, ref: str, layer: str, frame: pd.DataFrame, *, base_version: int,
                      reason: str = "") -> int:
        """:meth:`geo.store.Store.replace_layer` for a layer this role may change."""
        me = self._require("open", doing="change this case", case_ref=ref)
        self._require_edit(me, ref, [layer])
        version = self.store.replace_layer(ref, layer, frame, base_version=base_version,
                                           actor=me.username, reason=reason)
        self._record_change(me, ref, base_version, version, reason)
        return version

    def _record_change(self, me: User, ref: str, before: int, after: int, why: str) -> None:
        if after == before:
            return
        rows = self.store.changes_in(ref, after)
        audit.record(self.store, user=me, action="change", case_ref=ref,
                     what={"version": after, "layers": _change_summary(rows)}, why=why)

    def archive_case(self, ref: str, *, reason: str = "") -> int:
        """Archive a case (admin, analyst); recorded as ``change``."""
        return self._set_archived(ref, True, reason=reason)

    def restore_case(self, ref: str, *, reason: str = "") -> int:
        """Bring an archived case back (admin, analyst); recorded as ``change``."""
        return self._set_archived(ref, False, reason=reason)

    def _set_archived(self, ref: str, archived: bool, *, reason: str) -> int:
        op = "archive" if archived else "restore"
        me = self._require("archive", doing=f"{op} cases", case_ref=ref)
        change = self.store.archive_case if archived else self.store.restore_case
        version = change(ref, actor=me.username, reason=reason)
        audit.record(self.store, user=me, action="change", case_ref=ref,
                     what={"op": op, "version": version}, why=reason)
        return version

    def history(self, ref: str) -> list[Revision]:
        """Who saved what and when (counts of rows per layer, no values)."""
        self._require("history", doing="see the history", case_ref=ref)
        return self.store.history(ref)

    def changes_in(self, ref: str, version: int) -> list[RowChange]:
        """The rows one save changed, before and after (admin, analyst)."""
        me = self._require("row_history", doing="see changed rows", case_ref=ref)
        audit.record(self.store, user=me, action="case_open", case_ref=ref,
                     what={"view": "changes", "version": version})
        return self.store.changes_in(ref, version)

    def undo(self, ref: str, version: int, *, reason: str = "",
             base_version: int | None = None) -> int:
        """Undo one save as a new save (admin, analyst); recorded as ``change``."""
        me = self._require("undo", doing="undo changes", case_ref=ref)
        new = self.store.undo(ref, version, actor=me.username, reason=reason,
                              base_version=base_version)
        rows = self.store.changes_in(ref, new)
        audit.record(self.store, user=me, action="change", case_ref=ref,
                     what={"version": new, "undid": version, "layers": _change_summary(rows)},
                     why=reason)
        return new

    def record_street_file(self, ref: str, *, op: Literal["added", "chosen", "cleared"],
                           file: str | None, sha256: str | None = None) -> None:
        """Record a street file added for a case or chosen for it (it changes the case's
        school-run times, and so which candidates are eligible); refused without the
        right."""
        me = self._require("street_file", doing="change a case's street file", case_ref=ref)
        audit.record(self.store, user=me, action="change", case_ref=ref,
                     what={"street_file": file, "op": op, "sha256": sha256})

    # -- exports and prints ------------------------------------------------------------------

    def export(self, ref: str, *, purpose: str, what: dict[str, Any] | None = None) -> None:
        """Record an export the app is about to hand over (a download); refuse it without a
        purpose or the right. Call it *before* the data leaves: if the trail cannot be
        written, nothing should leave."""
        me = self._require("export", doing="export from cases", case_ref=ref)
        why = check_purpose(purpose, "export")
        audit.record(self.store, user=me, action="export", case_ref=ref,
                     what={"view": VIEWS[me.role], **(what or {})}, why=why)

    def print_(self, ref: str, *, purpose: str, what: dict[str, Any] | None = None) -> None:
        """Record a print (an agreement PDF, a printed map) as :meth:`export` does."""
        me = self._require("print", doing="print from cases", case_ref=ref)
        why = check_purpose(purpose, "print")
        audit.record(self.store, user=me, action="print", case_ref=ref,
                     what={"view": VIEWS[me.role], **(what or {})}, why=why)

    def export_case(self, ref: str, path: str | os.PathLike, *, purpose: str) -> Path:
        """Write this user's view of the case to a GeoPackage, recorded with the purpose."""
        from geo.io import write_case

        me = self._require("export", doing="export from cases", case_ref=ref)
        why = check_purpose(purpose, "export")
        info = self.store.case_info(ref)
        audit.record(self.store, user=me, action="export", case_ref=ref,
                     what={"view": VIEWS[me.role], "format": "gpkg",
                           "file": Path(path).name, "version": info.version}, why=why)
        loaded = self.store.load_case(ref)
        return write_case(redact(loaded.case, VIEWS[me.role]).case, path)

    # -- the session --------------------------------------------------------------------------

    def sign_out(self, *, reason: str = "signed out") -> None:
        """Record the end of the session (``reason``: ``signed out``, ``idle`` ...)."""
        auth.sign_out(self.store, self._username, reason=reason)

    def change_password(self, old: str, new: str) -> None:
        """Change the signed-in user's own password."""
        auth.change_password(self.store, self._username, old, new)

    # -- administration (admins only) --------------------------------------------------------

    def _admin(self, doing: str) -> User:
        return self._require("manage_users", doing=doing)

    def list_users(self) -> list[auth.UserInfo]:
        self._admin("see the users")
        return auth.list_users(self.store)

    def add_user(self, username: str, role: str, *, display_name: str = "",
                 cases: Iterable[str] = (), external: bool = False) -> str:
        me = self._admin("add users")
        return auth.add_user(self.store, username, role, actor=me.username,
                             display_name=display_name, cases=tuple(cases), external=external)

    def disable_user(self, username: str) -> None:
        auth.disable_user(self.store, username, actor=self._admin("disable users").username)

    def enable_user(self, username: str) -> None:
        auth.enable_user(self.store, username, actor=self._admin("enable users").username)

    def set_role(self, username: str, role: str) -> None:
        auth.set_role(self.store, username, role, actor=self._admin("change roles").username)

    def reset_password(self, username: str) -> str:
        me = self._admin("reset passwords")
        return auth.reset_password(self.store, username, actor=me.username)

    def grant(self, username: str, ref: str) -> None:
        auth.grant(self.store, username, ref, actor=self._admin("grant access").username)

    def revoke(self, username: str, ref: str) -> None:
        auth.revoke(self.store, username, ref, actor=self._admin("revoke access").username)

    def audit_search(self, **filters: Any) -> list[audit.AuditRecord]:
        """:func:`geo.audit.search` for supervisors (admins)."""
        self._require("read_audit", doing="read the audit trail")
        return audit.search(self.store, **filters)

    def audit_verify(self, *, head: str | None = None) -> audit.VerifyResult:
        """:func:`geo.audit.verify` for supervisors (admins)."""
        self._require("read_audit", doing="check the audit trail")
        return audit.verify(self.store, head=head)


