"""The audit trail: who did what to which case, when and why, in a hash-chained log.

In the spirit of the Data Protection Act 2018 s.62 (logging for law-enforcement processing):
every sign-in, sign-out and failed sign-in, every case opened, every change, export and print,
and every change to users and their access is one record with

- ``seq``: 1, 2, 3 ... with no gaps;
- ``at``: when, in UTC (shown in UK time);
- ``username``: who (for a failed sign-in with an unknown name: ``(unknown)``);
- ``action``: one of :data:`ACTIONS`;
- ``case_ref``: the case, if any;
- ``what``: details as JSON (a version, layers and row counts, a file name; never the
  case's contents);
- ``why``: the purpose given (required before any export or print) or the reason for a change;
- ``prev_hash`` and ``hash``: ``hash = SHA-256(canonical JSON of [seq, at, username, action,
  case_ref, what, why, prev_hash])``, ``prev_hash`` being the previous record's hash (64
  zeros for the first).

Notes
-----
*Append-only.* The code only ever inserts, and database triggers refuse UPDATE and DELETE
(migration 0002). Someone who bypasses them (drops the triggers, edits the SQLite file) is
caught by :func:`verify`, which names the first record that does not check out. Someone who
rewrites *every* record from the edited one onwards, recomputing the hashes, is only caught
against a head noted elsewhere: :func:`verify` returns the last record's ``seq:hash``; note it
(on paper, in another system) and pass it back as ``head=`` later.

*Order.* Appends are serialised: SQLite's write lock (``BEGIN IMMEDIATE``), or a table lock on
PostgreSQL that readers do not wait for.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, func, or_, select

from geo._dbschema import audit_log
from geo.errors import InputError

UK = ZoneInfo("Europe/London")
GENESIS = "0" * 64
UNKNOWN_USER = "(unknown)"
MAX_WHY = 2000
MAX_NAME = 200

#: Every action the trail records.
ACTIONS: tuple[str, ...] = (
    "sign_in",
    "sign_in_failed",
    "sign_out",
    "locked",
    "case_open",
    "change",
    "export",
    "print",
    "access_denied",
    "user_added",
    "user_disabled",
    "user_enabled",
    "role_changed",
    "password_reset",
    "password_changed",
    "access_granted",
    "access_revoked",
    "backup",
    "restore",
    "db_upgrade",
)

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class _HasTransaction(Protocol):
    def transaction(self, *, write: bool): ...


@dataclass(frozen=True)
class AuditRecord:
    """One record of the trail, as stored."""

    seq: int
    at: dt.datetime
    username: str
    action: str
    case_ref: str | None
    what: dict[str, Any]
    why: str
    prev_hash: str
    hash: str

    @property
    def uk_time(self) -> str:
        """When, in UK local time, to the second."""
        return self.at.astimezone(UK).strftime("%Y-%m-%d %H:%M:%S")

    def __str__(self) -> str:
        case = f" {self.case_ref}" if self.case_ref else ""
        why = f" ({self.why})" if self.why else ""
        return f"#{self.seq} {self.uk_time} {self.username} {self.action}{case}{why}"


@dataclass(frozen=True)
class VerifyResult:
    """What :func:`verify` found.

    Attributes
    ----------
    ok
        Every record checks out (and the noted head, if one was given, is still there).
    checked
        How many records were read.
    first_bad_seq
        The first record that does not check out (``None`` when ``ok``).
    reason
        Why, in words (empty when ``ok``).
    head_seq, head_hash
        The last record read: note ``head`` somewhere else to detect a rewrite later.
    """

    ok: bool
    checked: int
    first_bad_seq: int | None = None
    reason: str = ""
    head_seq: int = 0
    head_hash: str = GENESIS

    @property
    def head(self) -> str:
        """``seq:hash`` of the last record, to pass back to :func:`verify` as ``head=``."""
        return f"{self.head_seq}:{self.head_hash}"


# ---------------------------------------------------------------------------------------------
# writing


def _utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _clean(text: object, limit: int) -> str:
    """Text safe to store on both engines: control characters (NUL included) removed."""
    return _CONTROL.sub("", str(text or ""))[:limit]


def canonical_what(what: Mapping[str, Any] | None) -> str:
    """``what`` as the JSON text that is stored and hashed (sorted keys, no spaces)."""
    return json.dumps(dict(what or {}), sort_keys=True, ensure_ascii=False,
                      separators=(",", ":"), default=str)


def record_hash(seq: int, at: dt.datetime, username: str, action: str, case_ref: str | None,
                what_text: str, why: str, prev_hash: str) -> str:
    """The hash of one record, from its stored values (see the module notes)."""
    at_text = _utc(at).isoformat(timespec="microseconds")
    body = json.dumps([seq, at_text, username, action, case_ref, what_text, why, prev_hash],
                      ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def _username(user: object) -> str:
    name = getattr(user, "username", user)
    return _clean(name, MAX_NAME) or UNKNOWN_USER


def append(
    conn: Connection,
    *,
    user: object,
    action: str,
    case_ref: str | None = None,
    what: Mapping[str, Any] | None = None,
    why: str = "",
    at: dt.datetime | None = None,
) -> AuditRecord:
    """Append one record inside the caller's (write) transaction; see :func:`record`."""
    if action not in ACTIONS:
        msg = f"unknown audit action {action!r}; expected one of {', '.join(ACTIONS)}"
        raise InputError(msg)
    if conn.dialect.name == "postgresql":
        # serialise appends (the chain needs the previous hash); readers are not blocked
        conn.exec_driver_sql("LOCK TABLE audit_log IN SHARE ROW EXCLUSIVE MODE")
    last = conn.execute(
        select(audit_log.c.seq, audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1)
    ).one_or_none()
    seq = 1 if last is None else int(last.seq) + 1
    prev = GENESIS if last is None else str(last.hash)
    when = _utc(at or dt.datetime.now(dt.UTC))
    username = _username(user)
    ref = None if case_ref is None else _clean(case_ref, 100)
    what_text = canonical_what(what)
    why_text = _clean(why, MAX_WHY)
    digest = record_hash(seq, when, username, action, ref, what_text, why_text, prev)
    conn.execute(audit_log.insert().values(
        seq=seq, at=when, username=username, action=action, case_ref=ref, what=what_text,
        why=why_text, prev_hash=prev, hash=digest,
    ))
    return AuditRecord(seq, when, username, action, ref, json.loads(what_text), why_text, prev,
                       digest)


def record(
    store: _HasTransaction,
    *,
    user: object,
    action: str,
    case_ref: str | None = None,
    what: Mapping[str, Any] | None = None,
    why: str = "",
) -> AuditRecord:
    """Append one record to the trail, in its own transaction; return it.

    Parameters
    ----------
    store
        The :class:`geo.store.Store` whose database holds the trail.
    user
        Who: a user name, or anything with a ``username``.
    action
        One of :data:`ACTIONS`.
    case_ref
        The case concerned, if any.
    what
        Details, JSON-serialisable (ids, counts, file names; never the case's contents).
    why
        The purpose or reason given.

    Raises
    ------
    InputError
        An unknown action.
    """
    with store.transaction(write=True) as conn:
        return append(conn, user=user, action=action, case_ref=case_ref, what=what, why=why)


# ---------------------------------------------------------------------------------------------
# reading


def _from_row(row: Any) -> AuditRecord:
    try:
        what = json.loads(row.what)
    except ValueError:
        what = {"unreadable": row.what}
    if not isinstance(what, dict):
        what = {"value": what}
    return AuditRecord(int(row.seq), _utc(row.at), row.username, row.action, row.case_ref,
                       what, row.why, row.prev_hash, row.hash)


def _rows(conn: Connection) -> Iterator[Any]:
    result = conn.execution_options(yield_per=5_000).execute(
        select(audit_log).order_by(audit_log.c.seq))
    for chunk in result.partitions(5_000):
        yield from chunk


def _parse_head(head: str) -> tuple[int, str]:
    seq_text, _, digest = head.strip().partition(":")
    if not seq_text.isdigit() or not re.fullmatch(r"[0-9a-f]{64}", digest):
        msg = (f"{head!r} is not a noted head; give it as printed by `safeplan audit verify`, "
               "SEQ:HASH")
        raise InputError(msg)
    return int(seq_text), digest


def verify(store: _HasTransaction, *, head: str | None = None) -> VerifyResult:
    """Check the whole trail: no record missing, each linked to the one before, none changed.

    Parameters
    ----------
    store
        The store whose trail to check.
    head
        A ``seq:hash`` noted earlier (:attr:`VerifyResult.head`): the trail must still hold
        that record, unchanged. This catches a rewrite of the whole chain and records removed
        from its end, which the chain alone cannot show.

    Returns
    -------
    :class:`VerifyResult`, naming the first record that does not check out.
    """
    noted = _parse_head(head) if head else None
    checked = 0
    prev = GENESIS
    expected = 1
    noted_found = False
    with store.transaction(write=False) as conn:
        for row in _rows(conn):
            seq = int(row.seq)
            if seq != expected:
                return VerifyResult(False, checked, expected,
                                    f"record {expected} is missing (the next is {seq})",
                                    expected - 1, prev)
            if row.prev_hash != prev:
                return VerifyResult(
                    False, checked, seq,
                    f"record {seq} does not follow record {seq - 1}: record {seq - 1} was "
                    "rewritten, or records were removed or put in", seq - 1, prev)
            digest = record_hash(seq, row.at, row.username, row.action, row.case_ref,
                                 row.what, row.why, row.prev_hash)
            if digest != row.hash:
                return VerifyResult(
                    False, checked, seq,
                    f"record {seq} was changed after it was written (its hash does not match)",
                    seq - 1, prev)
            if noted is not None and seq == noted[0]:
                if row.hash != noted[1]:
                    return VerifyResult(
                        False, checked + 1, seq,
                        f"record {seq} is not the one noted: the trail was rewritten from "
                        f"record {seq} or earlier", seq, row.hash)
                noted_found = True
            checked += 1
            prev = row.hash
            expected = seq + 1
    if noted is not None and not noted_found:
        return VerifyResult(
            False, checked, checked + 1,
            f"the trail ends at record {checked}, but record {noted[0]} was noted: records "
            "were removed from its end", checked, prev)
    return VerifyResult(True, checked, None, "", checked, prev)


def _moment(value: dt.date | dt.datetime, *, end: bool) -> dt.datetime:
    """A date as the start of that day in UK time (the next day's start for ``end``)."""
    if isinstance(value, dt.datetime):
        return _utc(value if value.tzinfo else value.replace(tzinfo=UK))
    day = value + dt.timedelta(days=1) if end else value
    return dt.datetime(day.year, day.month, day.day, tzinfo=UK).astimezone(dt.UTC)


def search(
    store: _HasTransaction,
    *,
    user: str | None = None,
    case_ref: str | None = None,
    action: str | None = None,
    since: dt.date | dt.datetime | None = None,
    until: dt.date | dt.datetime | None = None,
    text: str | None = None,
    limit: int = 1_000,
) -> list[AuditRecord]:
    """Records matching every filter given, newest first.

    Parameters
    ----------
    user, case_ref, action
        Exact matches (an unknown action is refused by name).
    since, until
        A date (whole days, UK time; ``until`` includes its day) or a date-time.
    text
        Found in the user, case, what or why, ignoring case.
    limit
        At most this many records.
    """
    if action and action not in ACTIONS:
        msg = f"unknown audit action {action!r}; expected one of {', '.join(ACTIONS)}"
        raise InputError(msg)
    query = select(audit_log).order_by(audit_log.c.seq.desc()).limit(max(1, int(limit)))
    if user:
        query = query.where(audit_log.c.username == user)
    if case_ref:
        query = query.where(audit_log.c.case_ref == case_ref)
    if action:
        query = query.where(audit_log.c.action == action)
    if since is not None:
        query = query.where(audit_log.c.at >= _moment(since, end=False))
    if until is not None:
        query = query.where(audit_log.c.at < _moment(until, end=True))
    if text:
        needle = text.lower()
        query = query.where(or_(*(func.lower(c).contains(needle, autoescape=True)
                                  for c in (audit_log.c.username, audit_log.c.case_ref,
                                            audit_log.c.what, audit_log.c.why))))
    with store.transaction(write=False) as conn:
        return [_from_row(r) for r in conn.execute(query)]


def count(store: _HasTransaction) -> int:
    """How many records the trail holds."""
    with store.transaction(write=False) as conn:
        return int(conn.execute(select(func.count()).select_from(audit_log)).scalar_one())
