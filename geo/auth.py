"""Sign-in: local accounts with argon2 password hashes, roles, per-case access, lockout.

No account and no password exists until an administrator creates one (``safeplan users
add``), and every new or reset password is a one-time password, random (:mod:`secrets`),
shown once and to be changed at the first sign-in. A first start of the demo app creates one
``demo`` account and prints its one-time password (:func:`ensure_demo_user`).

- Passwords are stored only as argon2id hashes (argon2-cffi's :class:`PasswordHasher`, its
  RFC 9106 defaults) and re-hashed at sign-in when those parameters change.
- A password needs :data:`MIN_PASSWORD` characters or more, must not contain the user name
  and must not be one character repeated (:func:`check_password`).
- After ``settings.max_failed_logins`` failures in a row an account is locked for
  ``settings.lockout_min`` minutes. A failed sign-in always gets the same message, whether the
  user exists, the password is wrong, or the account is locked or disabled, and takes about
  as long (a hash is checked even for an unknown name).
- Roles are :data:`ROLES`; what each may see and do is in :mod:`geo.access`. Admins may open
  every case; everyone else only the cases granted to them (:func:`grant`).
- Every sign-in, failure, lock, sign-out and change to users or access is in the audit trail
  (:mod:`geo.audit`).

The idle timeout is kept by the app (:func:`is_idle` says when a session has been idle too
long). When an OpenID Connect provider signs users in instead, accounts are created with
``external=True`` (no local password) and :func:`sign_in_external` records the sign-in.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, Literal, get_args

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Connection, select
from sqlalchemy.exc import IntegrityError

from geo import audit
from geo._dbschema import case_access, cases, users
from geo.errors import AccessDenied, ConflictError, InputError, NotFound
from geo.settings import Settings

if TYPE_CHECKING:
    from geo.store import Store

Role = Literal["admin", "analyst", "housing", "social_worker", "viewer"]
#: Every role, from most to least trusted.
ROLES: tuple[Role, ...] = get_args(Role)

MIN_PASSWORD = 12
MAX_PASSWORD = 256
#: Letters and digits that cannot be misread (no 0/o, 1/l/i).
_OTP_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
#: A user name: letters, digits, dots, dashes, underscores, and the "@" and "+" of an e-mail
#: address (an OpenID Connect account is named by its e-mail address).
_USERNAME = re.compile(r"[a-z0-9][a-z0-9._@+-]{1,63}")
#: The stored hash of an external (OpenID Connect) account: no local password at all.
_EXTERNAL_HASH = "!"
SIGN_IN_FAILED = (
    "sign-in failed: the user name or password is not right, or the account is locked or "
    "disabled. Try again in a few minutes, or ask an administrator"
)


@dataclass(frozen=True)
class User:
    """A signed-in user: who, and the role that decides what they may see and do."""

    username: str
    display_name: str
    role: Role
    must_change_password: bool = False

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


@dataclass(frozen=True)
class UserInfo:
    """An account as an administrator sees it (never the password hash)."""

    username: str
    display_name: str
    role: Role
    disabled: bool
    locked_until: dt.datetime | None
    must_change_password: bool
    external: bool
    created_at: dt.datetime
    created_by: str
    last_sign_in_at: dt.datetime | None
    cases: tuple[str, ...]

    @property
    def status(self) -> str:
        """``disabled``, ``locked``, ``must change password`` or ``active``."""
        if self.disabled:
            return "disabled"
        if self.locked_until is not None and self.locked_until > _now():
            return "locked"
        if self.must_change_password:
            return "must change password"
        return "active"


# ---------------------------------------------------------------------------------------------
# passwords


@cache
def _hasher() -> PasswordHasher:
    return PasswordHasher()


@cache
def _dummy_hash() -> str:
    """A hash to check against when there is no account, so a failure takes as long."""
    return _hasher().hash(secrets.token_hex(16))


def hash_password(password: str) -> str:
    """The argon2id hash of a password (salted; a new hash each time)."""
    return _hasher().hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Whether ``password`` matches ``password_hash``; False for a malformed hash."""
    try:
        return _hasher().verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def check_password(password: str, username: str = "") -> None:
    """Refuse a password too short, too long, containing the user name, or one character
    repeated; the message says which rule it breaks.

    Raises
    ------
    InputError
        The password breaks a rule.
    """
    if len(password) < MIN_PASSWORD:
        msg = f"a password needs at least {MIN_PASSWORD} characters (this has {len(password)})"
        raise InputError(msg)
    if len(password) > MAX_PASSWORD:
        msg = f"a password may have at most {MAX_PASSWORD} characters"
        raise InputError(msg)
    if username and username.lower() in password.lower():
        msg = "a password must not contain the user name"
        raise InputError(msg)
    if len(set(password)) == 1:
        msg = "a password must not be one character repeated"
        raise InputError(msg)


def one_time_password() -> str:
    """A random password to give a new user once: four groups of four, about 79 bits."""
    chars = [secrets.choice(_OTP_ALPHABET) for _ in range(16)]
    return "-".join("".join(chars[i:i + 4]) for i in range(0, 16, 4))


def check_role(role: str) -> Role:
    """The role, or :class:`InputError` naming the roles there are."""
    if role not in ROLES:
        msg = f"unknown role {role!r}; expected one of {', '.join(ROLES)}"
        raise InputError(msg)
    return role  # type: ignore[return-value]


def check_username(username: str) -> str:
    """A user name in its stored form (lower case), or :class:`InputError` saying why not."""
    name = (username or "").strip().lower()
    if not _USERNAME.fullmatch(name):
        msg = (f"{username!r} is not a usable user name: use 2 to 64 letters, digits, dots, "
               "dashes, underscores, @ or +, starting with a letter or digit")
        raise InputError(msg)
    return name


def is_idle(last_seen: dt.datetime, now: dt.datetime, settings: Settings) -> bool:
    """Whether a session last active at ``last_seen`` has been idle too long at ``now``."""
    return (now - last_seen) > dt.timedelta(minutes=settings.idle_timeout_min)


# ---------------------------------------------------------------------------------------------
# accounts


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _user_row(conn: Connection, username: str, *, lock: bool = False) -> Any:
    query = select(users).where(users.c.username == username)
    if lock:
        query = query.with_for_update()
    row = conn.execute(query).one_or_none()
    if row is None:
        msg = f"no user {username!r} (see `safeplan users list`)"
        raise NotFound(msg)
    return row


def _case_exists(conn: Connection, ref: str) -> None:
    if conn.execute(select(cases.c.id).where(cases.c.ref == ref)).one_or_none() is None:
        msg = f"no case {ref!r} in the database (see `safeplan cases list`)"
        raise NotFound(msg)


def add_user(
    store: Store,
    username: str,
    role: str,
    *,
    actor: str,
    display_name: str = "",
    cases: tuple[str, ...] | list[str] = (),
    external: bool = False,
) -> str:
    """Create an account; return its one-time password (to give the user once).

    Parameters
    ----------
    store
        The store holding the accounts.
    username, role
        The new user's name (lower case; see :func:`check_username`) and role (:data:`ROLES`).
    actor
        Who creates it (for the audit trail).
    display_name
        The name shown on screens (default: the user name).
    cases
        Case references to grant at once.
    external
        The user signs in through an OpenID Connect provider: no local password is set and
        ``""`` is returned.

    Raises
    ------
    InputError
        A bad user name or role.
    ConflictError
        The user name is taken.
    NotFound
        A case to grant does not exist.
    """
    name = check_username(username)
    role = check_role(role)
    password = "" if external else one_time_password()
    digest = _EXTERNAL_HASH if external else hash_password(password)
    now = _now()
    try:
        with store.transaction(write=True) as conn:
            taken = conn.execute(select(users.c.id).where(users.c.username == name))
            if taken.one_or_none() is not None:
                msg = f"a user {name!r} already exists; nothing was changed"
                raise ConflictError(msg)
            for ref in cases:
                _case_exists(conn, ref)
            conn.execute(users.insert().values(
                username=name, display_name=(display_name or name).strip()[:200], role=role,
                password_hash=digest, disabled=False, failed_logins=0, locked_until=None,
                must_change_password=not external, created_at=now, created_by=actor,
                last_sign_in_at=None,
            ))
            audit.append(conn, user=actor, action="user_added",
                         what={"user": name, "role": role, "external": external})
            for ref in dict.fromkeys(cases):
                _grant(conn, name, ref, actor=actor, now=now)
    except IntegrityError:
        msg = f"a user {name!r} was created by someone else just now; nothing was changed"
        raise ConflictError(msg) from None
    return password


def _set(store: Store, username: str, *, actor: str, action: str, what: dict,
         **values: Any) -> None:
    name = check_username(username)
    with store.transaction(write=True) as conn:
        _user_row(conn, name, lock=True)
        conn.execute(users.update().where(users.c.username == name).values(**values))
        audit.append(conn, user=actor, action=action, what={"user": name, **what})


def disable_user(store: Store, username: str, *, actor: str) -> None:
    """Stop an account signing in (and end what a signed-in session of it may do)."""
    _set(store, username, actor=actor, action="user_disabled", what={}, disabled=True)


def enable_user(store: Store, username: str, *, actor: str) -> None:
    """Let a disabled account sign in again."""
    _set(store, username, actor=actor, action="user_enabled", what={}, disabled=False)


def set_role(store: Store, username: str, role: str, *, actor: str) -> None:
    """Change an account's role; it takes effect at the user's next action."""
    role = check_role(role)
    _set(store, username, actor=actor, action="role_changed", what={"role": role}, role=role)


def reset_password(store: Store, username: str, *, actor: str) -> str:
    """A new one-time password for an account (it also unlocks it); return it."""
    password = one_time_password()
    _set(store, username, actor=actor, action="password_reset", what={},
         password_hash=hash_password(password), must_change_password=True, failed_logins=0,
         locked_until=None)
    return password


def change_password(store: Store, username: str, old: str, new: str, *,
                    settings: Settings | None = None) -> None:
    """The user changes their own password, giving the current one.

    The current password is checked as a sign-in is (:func:`authenticate`): a wrong one
    counts towards the lockout and is in the audit trail, so the form cannot be used to
    guess passwords.

    Raises
    ------
    AccessDenied
        The current password is not right (the same message as a failed sign-in).
    InputError
        The new password breaks a rule (:func:`check_password`) or is the current one.
    """
    name = check_username(username)
    authenticate(store, name, old, settings=settings)
    check_password(new, name)
    if new == old:
        msg = "the new password must differ from the current one"
        raise InputError(msg)
    _set(store, name, actor=name, action="password_changed", what={},
         password_hash=hash_password(new), must_change_password=False)


def _grant(conn: Connection, username: str, ref: str, *, actor: str, now: dt.datetime) -> None:
    held = conn.execute(select(case_access.c.case_ref).where(
        case_access.c.username == username, case_access.c.case_ref == ref)).one_or_none()
    if held is not None:
        return
    conn.execute(case_access.insert().values(username=username, case_ref=ref,
                                             granted_by=actor, granted_at=now))
    audit.append(conn, user=actor, action="access_granted", case_ref=ref,
                 what={"user": username})


def grant(store: Store, username: str, case_ref: str, *, actor: str) -> None:
    """Let a user open a case (admins may open every case without a grant)."""
    name = check_username(username)
    with store.transaction(write=True) as conn:
        _user_row(conn, name)
        _case_exists(conn, case_ref)
        _grant(conn, name, case_ref, actor=actor, now=_now())


def revoke(store: Store, username: str, case_ref: str, *, actor: str) -> None:
    """Take a user's access to a case away; it takes effect at their next action."""
    name = check_username(username)
    with store.transaction(write=True) as conn:
        _user_row(conn, name)
        gone = conn.execute(case_access.delete().where(
            case_access.c.username == name, case_access.c.case_ref == case_ref))
        if gone.rowcount == 0:
            msg = f"{name} has no access to case {case_ref!r}; nothing was changed"
            raise NotFound(msg)
        audit.append(conn, user=actor, action="access_revoked", case_ref=case_ref,
                     what={"user": name})


def granted_cases(conn: Connection, username: str) -> list[str]:
    """The references of the cases granted to a user (in a transaction of the caller)."""
    rows = conn.execute(select(case_access.c.case_ref)
                        .where(case_access.c.username == username)
                        .order_by(case_access.c.case_ref))
    return [r[0] for r in rows]


def list_users(store: Store) -> list[UserInfo]:
    """Every account by name, with its role, status and granted cases."""
    with store.transaction(write=False) as conn:
        rows = conn.execute(select(users).order_by(users.c.username)).all()
        grants: dict[str, list[str]] = {}
        for r in conn.execute(select(case_access.c.username, case_access.c.case_ref)
                              .order_by(case_access.c.case_ref)):
            grants.setdefault(r.username, []).append(r.case_ref)
    return [
        UserInfo(r.username, r.display_name, r.role, bool(r.disabled), _utc(r.locked_until),
                 bool(r.must_change_password), r.password_hash == _EXTERNAL_HASH,
                 _utc(r.created_at), r.created_by, _utc(r.last_sign_in_at),
                 tuple(grants.get(r.username, ())))
        for r in rows
    ]


def current_user(store: Store, username: str) -> User:
    """The account as it is now, for a session that signed in earlier.

    Raises
    ------
    AccessDenied
        The account no longer exists or was disabled.
    """
    with store.transaction(write=False) as conn:
        row = conn.execute(select(users).where(users.c.username == username)).one_or_none()
    if row is None or row.disabled:
        msg = "your account has been disabled or removed: sign in again or ask an administrator"
        raise AccessDenied(msg)
    return User(row.username, row.display_name, row.role, bool(row.must_change_password))


def has_users(store: Store) -> bool:
    """Whether any account exists."""
    with store.transaction(write=False) as conn:
        return conn.execute(select(users.c.id).limit(1)).one_or_none() is not None


# ---------------------------------------------------------------------------------------------
# signing in and out


def authenticate(store: Store, username: str, password: str, *,
                 settings: Settings | None = None) -> User:
    """Check a user name and password; return the user, or refuse without saying why.

    A success resets the count of failures; a failure adds one, and the
    ``settings.max_failed_logins``-th in a row locks the account for ``settings.lockout_min``
    minutes. Every attempt is in the audit trail (an unknown name as ``(unknown)``, so that a
    password typed into the name box is never recorded).

    Raises
    ------
    AccessDenied
        With the same message (:data:`SIGN_IN_FAILED`) whatever went wrong.
    """
    settings = settings or Settings.from_env()
    name = (username or "").strip().lower()
    # an empty or over-long password is a failure, checked no differently (argon2 is not
    # run on megabytes of input)
    password = password or ""
    usable = 0 < len(password) <= MAX_PASSWORD
    row = None
    if _USERNAME.fullmatch(name):
        with store.transaction(write=False) as conn:
            row = conn.execute(select(users).where(users.c.username == name)).one_or_none()
    now = _now()
    if row is None or row.password_hash == _EXTERNAL_HASH:
        verify_password(_dummy_hash(), password[:MAX_PASSWORD])
        reason = "unknown user" if row is None else "external account"
        audit.record(store, user=audit.UNKNOWN_USER if row is None else name,
                     action="sign_in_failed", what={"reason": reason})
        raise AccessDenied(SIGN_IN_FAILED)
    ok = verify_password(row.password_hash, password[:MAX_PASSWORD]) and usable
    with store.transaction(write=True) as conn:
        row = _user_row(conn, name, lock=True)
        locked_until = _utc(row.locked_until)
        if row.disabled or (locked_until is not None and locked_until > now):
            reason = "disabled" if row.disabled else "locked"
            audit.append(conn, user=name, action="sign_in_failed", what={"reason": reason})
            ok = False
        elif not ok:
            failures = int(row.failed_logins) + 1
            values: dict[str, Any] = {"failed_logins": failures}
            audit.append(conn, user=name, action="sign_in_failed",
                         what={"reason": "wrong password", "failures": failures})
            if failures >= settings.max_failed_logins:
                until = now + dt.timedelta(minutes=settings.lockout_min)
                values = {"failed_logins": 0, "locked_until": until}
                audit.append(conn, user=name, action="locked",
                             what={"failures": failures, "minutes": settings.lockout_min})
            conn.execute(users.update().where(users.c.username == name).values(**values))
        else:
            values = {"failed_logins": 0, "locked_until": None, "last_sign_in_at": now}
            if _hasher().check_needs_rehash(row.password_hash):
                values["password_hash"] = hash_password(password)
            conn.execute(users.update().where(users.c.username == name).values(**values))
            audit.append(conn, user=name, action="sign_in", what={"method": "password"})
    if not ok:
        raise AccessDenied(SIGN_IN_FAILED)
    return User(row.username, row.display_name, row.role, bool(row.must_change_password))


def sign_in_external(store: Store, username: str, *, provider: str) -> User:
    """Record a sign-in that an OpenID Connect provider vouched for; return the account.

    The account must exist and be enabled (an administrator creates it with its role).

    Raises
    ------
    AccessDenied
        No enabled account has that name.
    """
    name = (username or "").strip().lower()
    with store.transaction(write=True) as conn:
        row = conn.execute(select(users).where(users.c.username == name)).one_or_none()
        if row is None or row.disabled:
            audit.append(conn, user=audit.UNKNOWN_USER if row is None else name,
                         action="sign_in_failed",
                         what={"reason": "no account" if row is None else "disabled",
                               "method": "oidc", "provider": provider})
        else:
            conn.execute(users.update().where(users.c.username == name)
                         .values(last_sign_in_at=_now()))
            audit.append(conn, user=name, action="sign_in",
                         what={"method": "oidc", "provider": provider})
    if row is None or row.disabled:
        msg = ("your sign-in worked but you have no account here, or it is disabled: ask an "
               "administrator")
        raise AccessDenied(msg)
    return User(row.username, row.display_name, row.role, False)


def sign_out(store: Store, user: User | str, *, reason: str = "signed out") -> None:
    """Record a sign-out (``reason``: ``signed out``, ``idle`` ...)."""
    audit.record(store, user=user, action="sign_out", what={"reason": reason})


DEMO_USER = "demo"


def ensure_demo_user(store: Store) -> str | None:
    """On a store with no accounts at all, create ``demo`` (an analyst, granted the fictional
    demo case if it is stored) and return its one-time password; otherwise ``None``.

    The app prints the password to its console on its first start and says so; there is no
    default password anywhere.
    """
    from geo.demo import DEMO_REF

    if has_users(store):
        return None
    with store.transaction(write=False) as conn:
        demo = conn.execute(select(cases.c.ref).where(cases.c.ref == DEMO_REF)).one_or_none()
    try:
        return add_user(store, DEMO_USER, "analyst", actor="safeplan (first start)",
                        display_name="Demo user (fictional cases only)",
                        cases=(DEMO_REF,) if demo is not None else ())
    except ConflictError:  # another process made it first
        return None
