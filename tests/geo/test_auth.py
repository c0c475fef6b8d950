"""Sign-in: argon2 hashes, one-time passwords, the password rule, lockout, accounts and access.

Tests that use a store run on SQLite and on PostgreSQL + PostGIS.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import select, update

from geo import audit, auth
from geo._dbschema import users
from geo.demo import DEMO_REF, build_demo_case
from geo.errors import AccessDenied, ConflictError, InputError, NotFound
from geo.settings import Settings

SETTINGS = Settings(max_failed_logins=3, lockout_min=15)
GOOD = "correct horse battery"


def stored_hash(store, username: str) -> str:
    with store.engine.connect() as conn:
        return conn.execute(select(users.c.password_hash)
                            .where(users.c.username == username)).scalar_one()


def set_password(store, username: str, password: str = GOOD) -> None:
    otp = auth.reset_password(store, username, actor="admin")
    auth.change_password(store, username, otp, password)


@pytest.fixture
def alice(store) -> str:
    auth.add_user(store, "alice", "analyst", actor="root", display_name="Alice Analyst")
    set_password(store, "alice")
    return "alice"


# ---------------------------------------------------------------------------------------------
# passwords


@pytest.mark.real_argon2
def test_passwords_are_stored_as_salted_argon2id_hashes():
    first, second = auth.hash_password(GOOD), auth.hash_password(GOOD)
    assert first.startswith("$argon2id$v=19$m=65536,t=3,p=4$")  # RFC 9106's second choice
    assert first != second  # salted
    assert GOOD not in first
    assert auth.verify_password(first, GOOD)
    assert not auth.verify_password(first, GOOD + "!")
    assert not auth.verify_password("not a hash", GOOD)


@pytest.mark.parametrize(("password", "message"), [
    ("short-one", "a password needs at least 12 characters (this has 9)"),
    ("x" * 257, "a password may have at most 256 characters"),
    ("my-alice-password", "a password must not contain the user name"),
    ("MY-ALICE-PASSWORD", "a password must not contain the user name"),
    ("aaaaaaaaaaaaaa", "a password must not be one character repeated"),
])
def test_the_password_rule_says_which_rule_is_broken(password, message):
    with pytest.raises(InputError, match=re.escape(message)):
        auth.check_password(password, "alice")


def test_a_good_password_passes_the_rule():
    auth.check_password(GOOD, "alice")


def test_one_time_passwords_are_random_readable_and_pass_the_rule():
    made = {auth.one_time_password() for _ in range(200)}
    assert len(made) == 200
    for otp in made:
        assert re.fullmatch(r"[a-z2-9]{4}(-[a-z2-9]{4}){3}", otp)
        assert not set(otp) & set("01ilo")
        auth.check_password(otp, "someone")


def test_roles_are_exactly_the_five_and_others_are_refused_by_name():
    assert auth.ROLES == ("admin", "analyst", "housing", "social_worker", "viewer")
    with pytest.raises(InputError, match="unknown role 'supervisor'; expected one of admin, "
                       "analyst, housing, social_worker, viewer"):
        auth.check_role("supervisor")


@pytest.mark.parametrize("name", ["", "a", "Bob Smith", "../etc", "x" * 65, "-dash"])
def test_unusable_user_names_are_refused(name):
    with pytest.raises(InputError, match="is not a usable user name"):
        auth.check_username(name)


def test_idle_sessions_are_told_apart_from_active_ones():
    settings = Settings(idle_timeout_min=30)
    seen = dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.UTC)
    assert not auth.is_idle(seen, seen + dt.timedelta(minutes=30), settings)
    assert auth.is_idle(seen, seen + dt.timedelta(minutes=30, seconds=1), settings)


# ---------------------------------------------------------------------------------------------
# accounts


def test_a_new_store_has_no_account_at_all(store):
    assert not auth.has_users(store)
    assert auth.list_users(store) == []
    with pytest.raises(AccessDenied, match=auth.SIGN_IN_FAILED):
        auth.authenticate(store, "admin", "admin", settings=SETTINGS)


def test_an_administrator_creates_an_account_with_a_one_time_password(store):
    otp = auth.add_user(store, "Bob", "housing", actor="root", display_name="Bob Housing")
    assert otp not in stored_hash(store, "bob")
    [info] = auth.list_users(store)
    assert (info.username, info.display_name, info.role) == ("bob", "Bob Housing", "housing")
    assert (info.status, info.created_by, info.cases, info.external) == (
        "must change password", "root", (), False)
    user = auth.authenticate(store, "bob", otp, settings=SETTINGS)
    assert user == auth.User("bob", "Bob Housing", "housing", must_change_password=True)
    [added] = audit.search(store, action="user_added")
    assert (added.username, added.what) == ("root", {"external": False, "role": "housing",
                                                     "user": "bob"})


def test_account_mistakes_are_refused_and_change_nothing(store, tiny_case):
    auth.add_user(store, "bob", "housing", actor="root")
    with pytest.raises(ConflictError, match="a user 'bob' already exists; nothing was changed"):
        auth.add_user(store, "BOB", "viewer", actor="root")
    with pytest.raises(InputError, match="unknown role 'boss'"):
        auth.add_user(store, "carol", "boss", actor="root")
    with pytest.raises(NotFound, match="no case 'NOPE' in the database"):
        auth.add_user(store, "carol", "viewer", actor="root", cases=["NOPE"])
    with pytest.raises(NotFound, match="no user 'nobody'"):
        auth.disable_user(store, "nobody", actor="root")
    assert [u.username for u in auth.list_users(store)] == ["bob"]


def test_access_is_granted_and_revoked_per_case(store, tiny_case):
    ref = store.create_case(tiny_case, actor="root")
    auth.add_user(store, "bob", "housing", actor="root", cases=[ref])
    assert auth.list_users(store)[0].cases == (ref,)
    auth.grant(store, "bob", ref, actor="root")  # again: nothing to do
    auth.revoke(store, "bob", ref, actor="root")
    assert auth.list_users(store)[0].cases == ()
    with pytest.raises(NotFound, match="bob has no access to case 'T-1'; nothing was changed"):
        auth.revoke(store, "bob", ref, actor="root")
    with pytest.raises(NotFound, match="no case 'NOPE'"):
        auth.grant(store, "bob", "NOPE", actor="root")
    actions = [(r.action, r.case_ref) for r in reversed(audit.search(store))]
    assert actions == [("user_added", None), ("access_granted", "T-1"),
                       ("access_revoked", "T-1")]


# ---------------------------------------------------------------------------------------------
# signing in


def test_a_right_password_signs_in_and_is_recorded(store, alice):
    user = auth.authenticate(store, "  Alice ", GOOD, settings=SETTINGS)
    assert user == auth.User("alice", "Alice Analyst", "analyst", must_change_password=False)
    last = audit.search(store, limit=1)[0]
    assert (last.username, last.action, last.what) == ("alice", "sign_in",
                                                       {"method": "password"})
    assert auth.list_users(store)[0].last_sign_in_at is not None


def test_every_failure_gets_the_same_message(store, alice):
    auth.add_user(store, "dora", "viewer", actor="root")
    set_password(store, "dora")
    auth.disable_user(store, "dora", actor="root")
    attempts = [("alice", "wrong password!"), ("nobody", GOOD), ("dora", GOOD),
                ("alice", ""), ("", "")]
    messages = set()
    for name, password in attempts:
        with pytest.raises(AccessDenied) as caught:
            auth.authenticate(store, name, password, settings=SETTINGS)
        messages.add(str(caught.value))
    assert messages == {auth.SIGN_IN_FAILED}


def test_empty_and_over_long_passwords_count_as_failures(store, alice):
    for password in ("", None, GOOD + "x" * 300):
        with pytest.raises(AccessDenied, match=auth.SIGN_IN_FAILED):
            auth.authenticate(store, "alice", password, settings=SETTINGS)
    assert auth.list_users(store)[0].status == "locked"
    reasons = [r.what["reason"] for r in audit.search(store, action="sign_in_failed")]
    assert reasons == ["wrong password"] * 3


def test_a_name_that_is_not_an_account_is_never_written_down(store, alice):
    with pytest.raises(AccessDenied):
        auth.authenticate(store, "correct horse battery", "x", settings=SETTINGS)
    failed = audit.search(store, action="sign_in_failed")[0]
    assert (failed.username, failed.what) == ("(unknown)", {"reason": "unknown user"})
    assert audit.search(store, text="horse") == []


def test_repeated_failures_lock_the_account_for_a_while(store, alice):
    for _ in range(SETTINGS.max_failed_logins):
        with pytest.raises(AccessDenied):
            auth.authenticate(store, "alice", "wrong password!", settings=SETTINGS)
    assert auth.list_users(store)[0].status == "locked"
    # the right password does not open a locked account, and says nothing more
    with pytest.raises(AccessDenied, match=auth.SIGN_IN_FAILED):
        auth.authenticate(store, "alice", GOOD, settings=SETTINGS)
    [locked] = audit.search(store, action="locked")
    assert locked.what == {"failures": 3, "minutes": 15}
    reasons = [r.what["reason"] for r in reversed(audit.search(store, action="sign_in_failed"))]
    assert reasons == ["wrong password"] * 3 + ["locked"]
    # fifteen minutes later
    with store.engine.begin() as conn:
        conn.execute(update(users).values(
            locked_until=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
    assert auth.authenticate(store, "alice", GOOD, settings=SETTINGS).username == "alice"


def test_a_success_resets_the_count_of_failures(store, alice):
    for _ in range(SETTINGS.max_failed_logins - 1):
        with pytest.raises(AccessDenied):
            auth.authenticate(store, "alice", "wrong password!", settings=SETTINGS)
    auth.authenticate(store, "alice", GOOD, settings=SETTINGS)
    for _ in range(SETTINGS.max_failed_logins - 1):
        with pytest.raises(AccessDenied):
            auth.authenticate(store, "alice", "wrong password!", settings=SETTINGS)
    assert auth.list_users(store)[0].status == "active"


def test_a_reset_gives_a_new_one_time_password_and_unlocks(store, alice):
    for _ in range(SETTINGS.max_failed_logins):
        with pytest.raises(AccessDenied):
            auth.authenticate(store, "alice", "wrong password!", settings=SETTINGS)
    otp = auth.reset_password(store, "alice", actor="root")
    with pytest.raises(AccessDenied):
        auth.authenticate(store, "alice", GOOD, settings=SETTINGS)
    user = auth.authenticate(store, "alice", otp, settings=SETTINGS)
    assert user.must_change_password


def test_users_change_their_own_password(store, alice):
    with pytest.raises(AccessDenied, match=auth.SIGN_IN_FAILED):
        auth.change_password(store, "alice", "not my password", "another good phrase")
    with pytest.raises(InputError, match="at least 12 characters"):
        auth.change_password(store, "alice", GOOD, "short")
    with pytest.raises(InputError, match="must differ from the current one"):
        auth.change_password(store, "alice", GOOD, GOOD)
    auth.change_password(store, "alice", GOOD, "another good phrase")
    assert auth.authenticate(store, "alice", "another good phrase", settings=SETTINGS)
    assert audit.search(store, action="password_changed")[0].username == "alice"


def test_the_change_password_form_cannot_be_used_to_guess(store, alice):
    changed = len(audit.search(store, action="password_changed"))
    for _ in range(SETTINGS.max_failed_logins):
        with pytest.raises(AccessDenied, match=auth.SIGN_IN_FAILED):
            auth.change_password(store, "alice", "a guess at it", "another good phrase",
                                 settings=SETTINGS)
    failed = audit.search(store, action="sign_in_failed")
    assert len(failed) == SETTINGS.max_failed_logins
    assert audit.search(store, action="locked")[0].username == "alice"
    with pytest.raises(AccessDenied):  # locked now, even with the right password
        auth.change_password(store, "alice", GOOD, "another good phrase", settings=SETTINGS)
    assert len(audit.search(store, action="password_changed")) == changed


def test_a_disabled_account_cannot_sign_in_or_act(store, alice):
    auth.authenticate(store, "alice", GOOD, settings=SETTINGS)
    auth.disable_user(store, "alice", actor="root")
    with pytest.raises(AccessDenied, match="your account has been disabled"):
        auth.current_user(store, "alice")
    with pytest.raises(AccessDenied, match=auth.SIGN_IN_FAILED):
        auth.authenticate(store, "alice", GOOD, settings=SETTINGS)
    auth.enable_user(store, "alice", actor="root")
    assert auth.authenticate(store, "alice", GOOD, settings=SETTINGS).role == "analyst"
    auth.set_role(store, "alice", "viewer", actor="root")
    assert auth.current_user(store, "alice").role == "viewer"


def test_an_external_account_is_named_by_its_email_address(store):
    auth.add_user(store, "Erin.Walsh+cs@Example.org", "social_worker", actor="root",
                  external=True)
    user = auth.sign_in_external(store, "erin.walsh+cs@example.org",
                                 provider="https://id.example.org")
    assert (user.username, user.role) == ("erin.walsh+cs@example.org", "social_worker")


def test_external_accounts_have_no_local_password(store):
    assert auth.add_user(store, "erin", "social_worker", actor="root", external=True) == ""
    assert stored_hash(store, "erin") == "!"
    with pytest.raises(AccessDenied, match=auth.SIGN_IN_FAILED):
        auth.authenticate(store, "erin", "!", settings=SETTINGS)
    user = auth.sign_in_external(store, "Erin", provider="https://id.example.org")
    assert (user.username, user.role) == ("erin", "social_worker")
    with pytest.raises(AccessDenied, match="you have no account here"):
        auth.sign_in_external(store, "frank", provider="https://id.example.org")
    assert [r.what["method"] for r in audit.search(store, action="sign_in")] == ["oidc"]


def test_sign_out_is_recorded(store, alice):
    user = auth.authenticate(store, "alice", GOOD, settings=SETTINGS)
    auth.sign_out(store, user, reason="idle")
    last = audit.search(store, limit=1)[0]
    assert (last.username, last.action, last.what) == ("alice", "sign_out", {"reason": "idle"})


def test_the_first_start_makes_one_demo_user_with_a_one_time_password(store):
    store.create_case(build_demo_case(), actor="safeplan (demo set-up)")
    otp = auth.ensure_demo_user(store)
    assert otp is not None
    [demo] = auth.list_users(store)
    assert (demo.username, demo.role, demo.cases) == ("demo", "analyst", (DEMO_REF,))
    assert auth.authenticate(store, "demo", otp, settings=SETTINGS).must_change_password
    assert auth.ensure_demo_user(store) is None  # only ever once
    assert len(auth.list_users(store)) == 1


def test_no_demo_user_where_accounts_exist(store):
    auth.add_user(store, "root", "admin", actor="installer")
    assert auth.ensure_demo_user(store) is None
    assert [u.username for u in auth.list_users(store)] == ["root"]
