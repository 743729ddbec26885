"""The store behaves the same on SQLite and on a real PostgreSQL: every test runs on both."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from webui.feedback.schema import corrections
from webui.feedback.store import Correction, FeedbackStore, StoreFull


def correction(label: int, **changes: object) -> Correction:
    values = {
        "label": label,
        "predicted": (label + 1) % 10,
        "mode": "digit",
        "position": None,
        "digit_png": b"\x89PNG 28x28 " + bytes([label]),
        "original": b"\x89PNG original \x00\xff" + bytes([label]) * 100,
        "original_content_type": "image/png",
        "model_name": "mnist",
        "model_version": "1.0",
    }
    return Correction(**{**values, **changes})


@pytest.fixture
def store(database_url):
    store = FeedbackStore(database_url)
    yield store
    store.dispose()


def test_corrections_round_trip_byte_for_byte_in_order(store):
    before = datetime.now(UTC)
    sent = [correction(3), correction(8, mode="number", position=2, predicted=None)]
    stored = [store.add(c, max_stored=10) for c in sent]
    assert [s.id for s in stored] == sorted({s.id for s in stored})
    rows = list(store.rows(batch=1))  # several batches
    assert [r.id for r in rows] == [s.id for s in stored]
    for row, original in zip(rows, sent, strict=True):
        assert (
            Correction(**{f: getattr(row, f) for f in Correction.__dataclass_fields__}) == original
        )
        assert before - timedelta(seconds=1) <= row.created_at <= datetime.now(UTC)
    assert store.count() == 2


def test_migrating_again_and_from_a_second_replica_changes_nothing(store, database_url):
    store.add(correction(1), max_stored=10)
    replicas = [FeedbackStore(database_url) for _ in range(3)]
    errors: list[BaseException] = []

    def migrate(replica: FeedbackStore) -> None:
        try:
            replica.migrate()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=migrate, args=(r,)) for r in replicas]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert [r.label for r in replicas[0].rows()] == [1]
    for replica in replicas:
        replica.dispose()


def test_the_cap_holds_with_several_replicas_inserting_at_once(store, database_url):
    replicas = [FeedbackStore(database_url) for _ in range(3)]
    for replica in replicas:
        replica.migrate()
    outcomes: list[str] = []

    def insert_some(replica: FeedbackStore) -> None:
        for label in range(5):
            try:
                replica.add(correction(label), max_stored=7)
                outcomes.append("stored")
            except StoreFull:
                outcomes.append("full")

    threads = [threading.Thread(target=insert_some, args=(r,)) for r in replicas]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["full"] * 8 + ["stored"] * 7
    assert store.count() == 7
    for replica in replicas:
        replica.dispose()


@pytest.mark.parametrize(
    "bad",
    [{"label": 10}, {"label": -1}, {"predicted": 12}, {"mode": "word"}, {"position": -1}],
    ids=["label-10", "label-negative", "predicted-12", "mode-unknown", "position-negative"],
)
def test_the_database_refuses_what_the_api_would_and_keeps_the_rest(store, bad):
    store.add(correction(4), max_stored=10)
    values = {**correction(4).__dict__, **bad, "created_at": datetime.now(UTC)}
    with pytest.raises(IntegrityError), store.engine.begin() as connection:
        connection.execute(insert(corrections).values(**values))
    assert [r.label for r in store.rows()] == [4]


def test_a_failed_insert_leaves_every_earlier_row(store):
    for label in (1, 2):
        store.add(correction(label), max_stored=10)
    with pytest.raises(IntegrityError):
        store.add(correction(5, digit_png=None), max_stored=10)
    assert [r.label for r in store.rows()] == [1, 2]
    store.add(correction(3), max_stored=10)  # and the store still works
    assert [r.label for r in store.rows()] == [1, 2, 3]
