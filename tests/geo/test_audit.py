"""The audit trail: append-only in the database, hash-chained, and every tampering found.

Run on SQLite and on PostgreSQL + PostGIS with the same tests.
"""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from geo import audit
from geo._dbschema import audit_log
from geo.errors import InputError, StoreError


def fill(store, n: int = 5) -> None:
    for i in range(1, n + 1):
        audit.record(store, user=f"user{i % 2}", action="case_open", case_ref=f"C-{i}",
                     what={"version": i}, why=f"reason {i}")


def raw(store, statement: str, **params) -> None:
    with store.engine.begin() as conn:
        conn.execute(text(statement), params)


def drop_triggers(store) -> None:
    """What someone with the database's owner rights can do: switch the protection off."""
    if store.dialect == "postgresql":
        raw(store, "ALTER TABLE audit_log DISABLE TRIGGER USER")
    else:
        raw(store, "DROP TRIGGER audit_log_no_update")
        raw(store, "DROP TRIGGER audit_log_no_delete")


def test_records_form_a_chain_that_verifies(store):
    first = audit.record(store, user="alice", action="sign_in", what={"method": "password"})
    second = audit.record(store, user="alice", action="case_open", case_ref="T-1",
                          what={"view": "full", "version": 3}, why="strategy meeting")
    assert (first.seq, second.seq) == (1, 2)
    assert first.prev_hash == "0" * 64
    assert second.prev_hash == first.hash
    assert len(second.hash) == 64
    assert second.hash != first.hash
    result = audit.verify(store)
    assert result.ok
    assert (result.checked, result.first_bad_seq, result.reason) == (2, None, "")
    assert result.head == f"2:{second.hash}"
    stored = audit.search(store)
    assert [r.seq for r in stored] == [2, 1]  # newest first
    assert stored[0].what == {"version": 3, "view": "full"}
    assert stored[0].why == "strategy meeting"
    assert stored[0].case_ref == "T-1"
    assert stored[0].at.tzinfo is not None


def test_an_empty_trail_verifies(store):
    result = audit.verify(store)
    assert result.ok
    assert result.checked == 0
    assert result.head == f"0:{'0' * 64}"


def test_the_database_refuses_to_change_or_delete_a_record(store):
    fill(store, 2)
    with pytest.raises((DBAPIError, StoreError), match="append-only"):
        raw(store, "UPDATE audit_log SET why = 'nothing to see' WHERE seq = 1")
    with pytest.raises((DBAPIError, StoreError), match="append-only"):
        raw(store, "DELETE FROM audit_log WHERE seq = 2")
    if store.dialect == "postgresql":
        with pytest.raises(DBAPIError, match="append-only"):
            raw(store, "TRUNCATE audit_log")
    assert audit.verify(store).ok
    assert audit.count(store) == 2


@pytest.mark.parametrize(("column", "value"), [
    ("why", "routine check"), ("username", "mallory"), ("case_ref", "C-9"),
    ("what", '{"version":99}'), ("action", "print"),
])
def test_an_edited_record_is_named_by_verify(store, column, value):
    fill(store)
    drop_triggers(store)
    raw(store, f"UPDATE audit_log SET {column} = :v WHERE seq = 3", v=value)
    result = audit.verify(store)
    assert not result.ok
    assert result.first_bad_seq == 3
    assert result.reason == "record 3 was changed after it was written (its hash does not match)"
    assert result.checked == 2


def test_an_edited_time_is_found(store):
    fill(store)
    drop_triggers(store)
    raw(store, "UPDATE audit_log SET at = :at WHERE seq = 4",
        at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    assert audit.verify(store).first_bad_seq == 4


def test_a_removed_record_is_found(store):
    fill(store)
    drop_triggers(store)
    raw(store, "DELETE FROM audit_log WHERE seq = 2")
    result = audit.verify(store)
    assert (result.ok, result.first_bad_seq) == (False, 2)
    assert result.reason == "record 2 is missing (the next is 3)"


def test_a_record_rewritten_with_its_own_hash_breaks_the_next_link(store):
    fill(store)
    drop_triggers(store)
    with store.engine.connect() as conn:
        row = conn.execute(select(audit_log).where(audit_log.c.seq == 2)).one()
    forged = audit.record_hash(2, row.at, row.username, row.action, row.case_ref, row.what,
                               "nothing happened", row.prev_hash)
    raw(store, "UPDATE audit_log SET why = 'nothing happened', hash = :h WHERE seq = 2",
        h=forged)
    result = audit.verify(store)
    assert (result.ok, result.first_bad_seq) == (False, 3)
    assert result.reason.startswith("record 3 does not follow record 2: record 2 was rewritten")


def rewrite_from(store, seq: int, why: str) -> None:
    """Rewrite every record from ``seq`` on, recomputing the chain: only a head noted
    elsewhere can show it."""
    with store.engine.connect() as conn:
        rows = conn.execute(select(audit_log).where(audit_log.c.seq >= seq)
                            .order_by(audit_log.c.seq)).all()
        prev = conn.execute(text("SELECT hash FROM audit_log WHERE seq = :s"),
                            {"s": seq - 1}).scalar_one()
    for row in rows:
        new_why = why if row.seq == seq else row.why
        digest = audit.record_hash(row.seq, row.at, row.username, row.action, row.case_ref,
                                   row.what, new_why, prev)
        raw(store, "UPDATE audit_log SET why = :w, prev_hash = :p, hash = :h WHERE seq = :s",
            w=new_why, p=prev, h=digest, s=row.seq)
        prev = digest


def test_a_whole_chain_rewrite_is_caught_by_a_noted_head(store):
    fill(store)
    noted = audit.verify(store).head
    drop_triggers(store)
    rewrite_from(store, 2, "nothing happened")
    assert audit.verify(store).ok  # the chain alone cannot tell
    result = audit.verify(store, head=noted)
    assert (result.ok, result.first_bad_seq) == (False, 5)
    assert result.reason == ("record 5 is not the one noted: the trail was rewritten from "
                             "record 5 or earlier")


def test_records_cut_from_the_end_are_caught_by_a_noted_head(store):
    fill(store)
    noted = audit.verify(store).head
    drop_triggers(store)
    raw(store, "DELETE FROM audit_log WHERE seq >= 4")
    assert audit.verify(store).ok
    result = audit.verify(store, head=noted)
    assert not result.ok
    assert result.reason == ("the trail ends at record 3, but record 5 was noted: records "
                             "were removed from its end")


def test_a_noted_head_still_there_verifies_as_the_trail_grows(store):
    fill(store, 3)
    noted = audit.verify(store).head
    fill(store, 2)
    result = audit.verify(store, head=noted)
    assert result.ok
    assert result.checked == 5


def test_a_malformed_head_is_refused(store):
    with pytest.raises(InputError, match="not a noted head; give it as printed by"):
        audit.verify(store, head="5:abc")


def test_unknown_actions_are_refused(store):
    with pytest.raises(InputError, match="unknown audit action 'peek'; expected one of sign_in"):
        audit.record(store, user="alice", action="peek")
    with pytest.raises(InputError, match="unknown audit action 'peek'"):
        audit.search(store, action="peek")
    assert audit.count(store) == 0


def test_control_characters_are_not_stored(store):
    rec = audit.record(store, user="ali\x00ce", action="export", case_ref="T-1",
                       why="court\x00 order\x1b[31m")
    assert (rec.username, rec.why) == ("alice", "court order[31m")
    assert audit.verify(store).ok


def test_search_filters_by_user_case_action_time_and_text(store):
    fill(store, 6)
    audit.record(store, user="bob", action="export", case_ref="C-2",
                 what={"file": "out_100%.gpkg"}, why="Court order")
    assert [r.seq for r in audit.search(store, user="user1")] == [5, 3, 1]
    assert [r.seq for r in audit.search(store, case_ref="C-2")] == [7, 2]
    assert [r.seq for r in audit.search(store, action="export")] == [7]
    assert [r.seq for r in audit.search(store, text="court")] == [7]
    assert [r.seq for r in audit.search(store, text="100%")] == [7]
    assert [r.seq for r in audit.search(store, text="reason 4")] == [4]
    assert [r.seq for r in audit.search(store, user="user0", case_ref="C-4")] == [4]
    today = dt.datetime.now(audit.UK).date()
    assert len(audit.search(store, since=today, until=today)) == 7
    assert audit.search(store, until=today - dt.timedelta(days=1)) == []
    assert audit.search(store, since=today + dt.timedelta(days=1)) == []
    assert [r.seq for r in audit.search(store, limit=2)] == [7, 6]


def test_appends_from_many_threads_keep_one_unbroken_chain(store):
    def work(i: int) -> None:
        for j in range(10):
            audit.record(store, user=f"t{i}", action="case_open", what={"j": j})

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result = audit.verify(store)
    assert result.ok
    assert result.checked == 40
    assert {r.seq for r in audit.search(store, limit=100)} == set(range(1, 41))
