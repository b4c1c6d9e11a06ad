"""The classification run's lock is free the moment a run ends, so the next run (the tests
classify day after day; a backfill right after the night's run) never meets it."""

import pytest

from postloan.risk.nightly import LOCK_KEY, RunInProgress, advisory_lock, lock_is_held

pytestmark = pytest.mark.django_db


def test_the_lock_is_free_as_soon_as_a_run_ends():
    for _ in range(20):
        with advisory_lock(LOCK_KEY):
            assert lock_is_held(LOCK_KEY)
        assert not lock_is_held(LOCK_KEY)


def test_a_second_run_while_one_holds_it_is_refused():
    with advisory_lock(LOCK_KEY), pytest.raises(RunInProgress), advisory_lock(LOCK_KEY):
        pass
    assert not lock_is_held(LOCK_KEY)
