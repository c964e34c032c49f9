"""CI's check that PostgreSQL answers, so that its tests run rather than skip."""

from __future__ import annotations

import pytest

import tests.postgres


def test_the_check_fails_loudly_where_no_server_answers(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Port 1 on loopback: nothing listens there.
    monkeypatch.setattr(
        tests.postgres, "POSTGRES_SERVER", "postgresql+asyncpg://postgres@127.0.0.1:1"
    )

    assert tests.postgres.main() == 1
    assert "PostgreSQL does not answer at" in capsys.readouterr().err


def test_without_a_server_the_tests_fail_when_postgres_is_required(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(
        tests.postgres, "POSTGRES_SERVER", "postgresql+asyncpg://postgres@127.0.0.1:1"
    )
    monkeypatch.setenv(tests.postgres.REQUIRE_ENV, "1")

    with (
        pytest.raises(pytest.fail.Exception, match="must run"),
        tests.postgres.scratch_postgres_database("check"),
    ):
        pass
