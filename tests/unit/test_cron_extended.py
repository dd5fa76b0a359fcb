"""Cron beyond 5 fields: seconds, descriptors, L/W/#, how they are stored, and the CLI.

Exact fire times here are checked against calendars (the weekdays of real dates); the
property tests in ``tests/property/test_cron_extended_properties.py`` compare the same
features with a brute-force oracle.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from support.fire_times import chain, utc
from support.waiting import until

from tickwork import (
    AsyncScheduler,
    BasicScheduleCodec,
    CompositeScheduleCodec,
    CronSchedule,
    CronSpec,
    IntervalSchedule,
    InvalidScheduleConfigError,
    JobData,
    JobEvent,
    MemoryStore,
    OnceSchedule,
    Schedule,
    StartAtIntervalSchedule,
    default_codec,
)
from tickwork.cli import main
from tickwork.testing import GapSkippingScheduleContract


def _days(expression: str, after: datetime, count: int) -> list[str]:
    return [t.strftime("%Y-%m-%d") for t in chain(CronSchedule(expression), after, count)]


# --- day extensions ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        # The last day of the month, leap years included.
        ("0 0 L * *", ["2024-01-31", "2024-02-29", "2024-03-31", "2024-04-30"]),
        # Two days before the last.
        ("0 0 L-2 * *", ["2024-01-29", "2024-02-27", "2024-03-29", "2024-04-28"]),
        # The last weekday: 31 Mar 2024 is a Sunday, 30 Jun a Sunday, 31 Aug a Saturday.
        ("0 0 LW 3,6,8 *", ["2024-03-29", "2024-06-28", "2024-08-30", "2025-03-31"]),
        # Nearest weekday to the 15th: 15 Jun 2024 is a Saturday, 15 Sep a Sunday.
        ("0 0 15W 5,6,9 *", ["2024-05-15", "2024-06-14", "2024-09-16", "2025-05-15"]),
        # 1 Jun 2024 is a Saturday: W never leaves the month, so Monday the 3rd.
        ("0 0 1W 6 *", ["2024-06-03", "2025-06-02", "2026-06-01"]),
        # 31W only in months with a 31st; 31 Mar 2024 is a Sunday, so Friday 29.
        ("0 0 31W 3,4 *", ["2024-03-29", "2025-03-31", "2026-03-31"]),
        # The last Friday.
        ("0 0 * * 5L", ["2024-01-26", "2024-02-23", "2024-03-29", "2024-04-26"]),
        ("0 0 * * friL", ["2024-01-26", "2024-02-23", "2024-03-29", "2024-04-26"]),
        # The second Monday; 7 and 0 both mean Sunday.
        ("0 0 * * MON#2", ["2024-01-08", "2024-02-12", "2024-03-11", "2024-04-08"]),
        ("0 0 * * 7#1", ["2024-01-07", "2024-02-04", "2024-03-03", "2024-04-07"]),
        # The fifth Thursday exists in some months only.
        ("0 0 * * 4#5", ["2024-02-29", "2024-05-30", "2024-08-29", "2024-10-31"]),
        # Lists mix plain days and extensions.
        ("0 0 1,L * *", ["2024-01-01", "2024-01-31", "2024-02-01", "2024-02-29"]),
        ("0 0 * * 1#1,5L", ["2024-01-01", "2024-01-26", "2024-02-05", "2024-02-23"]),
    ],
)
def test_day_extensions(expression: str, expected: list[str]) -> None:
    assert _days(expression, utc(2023, 12, 31, 12), len(expected)) == expected
    assert CronSchedule(expression).extended


def test_both_day_fields_restricted_match_either() -> None:
    # The 13th, or the second Friday (9 Feb 2024, 8 Mar, 12 Apr).
    expected = ["2024-02-09", "2024-02-13", "2024-03-08", "2024-03-13", "2024-04-12"]
    assert _days("0 0 13 * 5#2", utc(2024, 2, 1), 5) == expected
    # "?" in the other day field leaves the extension alone.
    assert _days("0 0 ? * 5#2", utc(2024, 2, 1), 2) == ["2024-02-09", "2024-03-08"]


def test_sparse_expressions_are_fast() -> None:
    sparse = [
        CronSchedule("0 0 * 2 1#5"),  # the fifth Monday of February: 2016, 2044, ...
        CronSchedule("0 0 29 2 *"),
        CronSchedule("0 0 L 2 *", "Pacific/Chatham"),
        CronSchedule("59 59 23 31W 12 *", "Australia/Lord_Howe"),
    ]
    assert sparse[0].next(utc(2017, 1, 1)) == utc(2044, 2, 29)
    started = time.perf_counter()
    for schedule in sparse:
        after = utc(2001, 1, 1)
        for _ in range(20):
            found = schedule.next(after)
            assert found is not None
            after = found
    assert time.perf_counter() - started < 1.0  # tens of microseconds each, in practice


# --- seconds -------------------------------------------------------------------------


def test_a_leading_seconds_field() -> None:
    every_15s = CronSchedule("*/15 * * * * *")
    assert chain(every_15s, utc(2025, 1, 1, 12, 0, 7), 3) == [
        utc(2025, 1, 1, 12, 0, 15),
        utc(2025, 1, 1, 12, 0, 30),
        utc(2025, 1, 1, 12, 0, 45),
    ]
    at_nine_thirty_s = CronSchedule("30 0 9 * * mon-fri", "Asia/Kathmandu")
    # 09:00:30 in Kathmandu (+05:45) is 03:15:30 UTC; 4 Jan 2025 is a Saturday.
    assert chain(at_nine_thirty_s, utc(2025, 1, 3, 4), 2) == [
        utc(2025, 1, 6, 3, 15, 30),
        utc(2025, 1, 7, 3, 15, 30),
    ]
    assert CronSchedule("0 * * * * *").extended  # even "0": the type says 6 fields


def test_cron_spec_with_seconds() -> None:
    spec = CronSpec(second="30", minute="0", hour="9")
    assert spec.expression == "30 0 9 * * *"
    assert CronSpec(minute="0").expression == "0 * * * *"
    assert CronSpec(minute="0", second="").expression == "0 * * * *"
    assert CronSpec(second=0).expression == "0 * * * * *"
    assert CronSchedule.from_spec(spec) == CronSchedule("30 0 9 * * *")


def test_seconds_in_a_gap_and_a_fold() -> None:
    # Europe/Paris, 30 Mar 2025 02:00 -> 03:00 (01:00 UTC); 26 Oct 03:00 -> 02:00.
    daily = CronSchedule("30 30 2 * * *", "Europe/Paris")
    assert daily.next(utc(2025, 3, 29, 12)) == utc(2025, 3, 30, 1)
    assert daily.next(utc(2025, 10, 25, 12)) == utc(2025, 10, 26, 0, 30, 30)
    assert daily.next(utc(2025, 10, 26, 0, 30, 30)) == utc(2025, 10, 27, 1, 30, 30)
    both = CronSchedule("30 30 2 * * *", "Europe/Paris", on_fold="both")
    assert both.next(utc(2025, 10, 26, 0, 30, 30)) == utc(2025, 10, 26, 1, 30, 30)
    skip = CronSchedule("30 30 2 * * *", "Europe/Paris", on_gap="skip")
    assert skip.next(utc(2025, 3, 29, 12)) == utc(2025, 3, 31, 0, 30, 30)
    assert skip.skipped_between(utc(2025, 3, 29, 12), utc(2025, 3, 31)) == [utc(2025, 3, 30, 1)]


def test_every_second_through_a_gap_is_one_step() -> None:
    # Lord Howe, 5 Oct 2025: 02:00 (+10:30) jumps to 02:30 (+11:00) at 15:30 UTC.
    every_second = CronSchedule("* * * * * *", "Australia/Lord_Howe")
    assert chain(every_second, utc(2025, 10, 4, 15, 29, 58), 3) == [
        utc(2025, 10, 4, 15, 29, 59),
        utc(2025, 10, 4, 15, 30),
        utc(2025, 10, 4, 15, 30, 1),
    ]
    skip = CronSchedule("* 10-20 2 * * *", "Australia/Lord_Howe", on_gap="skip")
    started = time.perf_counter()
    assert skip.next(utc(2025, 10, 4, 15)) == utc(2025, 10, 5, 15, 10)
    assert time.perf_counter() - started < 0.05


def test_fold_both_finds_a_fold_months_away() -> None:
    # New York, 1 Nov 2026: 01:30 happens at 05:30 and at 06:30 UTC.
    yearly = CronSchedule("30 1 1 11 *", "America/New_York", on_fold="both")
    assert chain(yearly, utc(2026, 1, 1), 3) == [
        utc(2026, 11, 1, 5, 30),
        utc(2026, 11, 1, 6, 30),
        utc(2027, 11, 1, 5, 30),
    ]


class TestExtendedCronSkipsOnTheGap(GapSkippingScheduleContract):
    """The capability suite over 6-field and L/#/W expressions that skip gap times."""

    @pytest.fixture
    def schedules(self) -> list[Schedule]:
        return [
            CronSchedule("*/20 * 2 * * SUNL", "Europe/Paris", on_gap="skip"),  # the change day
            CronSchedule("0 15 2 L-2 3 *", "Europe/Paris", on_gap="skip"),  # 29 Mar 2026
            CronSchedule("0 */10 2 * * *", "Australia/Lord_Howe", on_gap="skip"),
            CronSchedule("0 5-25/10 2 * * *", "Australia/Lord_Howe", on_gap="skip"),
            CronSchedule("0 0 9 15W * *", "Europe/Paris"),
        ]

    @pytest.fixture
    def moments(self) -> list[datetime]:
        return [
            datetime(2026, 3, 28, 12, tzinfo=UTC),  # Paris springs forward on the 29th
            datetime(2026, 10, 3, 12, tzinfo=UTC),  # Lord Howe on 4 October
        ]


def test_the_gap_suite_sees_real_skips() -> None:
    paris = CronSchedule("0 15 2 L-2 3 *", "Europe/Paris", on_gap="skip")
    assert paris.skipped_between(utc(2026, 3, 28), utc(2026, 3, 30)) == [utc(2026, 3, 29, 1)]
    # 4 Oct 2026: 02:00 (+10:30) jumps to 02:30 (+11:00) at 15:30 UTC on the 3rd.
    lord_howe = CronSchedule("0 5-25/10 2 * * *", "Australia/Lord_Howe", on_gap="skip")
    assert lord_howe.skipped_between(utc(2026, 10, 3), utc(2026, 10, 5)) == [
        utc(2026, 10, 3, 15, 30)
    ]
    # With 02:30 itself a match, that instant is a run, not a skip.
    every_ten = CronSchedule("0 */10 2 * * *", "Australia/Lord_Howe", on_gap="skip")
    assert every_ten.next(utc(2026, 10, 3, 15)) == utc(2026, 10, 3, 15, 30)
    assert every_ten.skipped_between(utc(2026, 10, 3), utc(2026, 10, 5)) == []


# --- descriptors ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("descriptor", "expression"),
    [
        ("@yearly", "0 0 1 1 *"),
        ("@annually", "0 0 1 1 *"),
        ("@monthly", "0 0 1 * *"),
        ("@weekly", "0 0 * * 0"),
        ("@daily", "0 0 * * *"),
        ("@midnight", "0 0 * * *"),
        ("@hourly", "0 * * * *"),
        (" @DAILY ", "0 0 * * *"),
    ],
)
def test_descriptors_are_their_five_fields(descriptor: str, expression: str) -> None:
    schedule = CronSchedule(descriptor, "Europe/Paris")
    assert schedule == CronSchedule(expression, "Europe/Paris")
    assert not schedule.extended
    # Stored as plain 5-field cron: every reader knows what it means.
    assert BasicScheduleCodec().encode(schedule) == ("cron", f"CRON_TZ=Europe/Paris {expression}")


# --- storage -------------------------------------------------------------------------

# Strings as the seed and the reference's conventions store them: unchanged, byte for byte.
SEED_ROWS = [
    ("cron", "0 9 * * 1-5"),
    ("cron", "*/15 * * * *"),
    ("cron", "0 0 13 * 5"),
    ("cron", "0,30 8-18 * jan-mar MON-FRI"),
    ("cron", "CRON_TZ=Europe/Paris 0 9 * * *"),
    ("cron", "CRON_TZ=America/New_York DST_GAP=skip DST_FOLD=both 30 1 * * *"),
]


@pytest.mark.parametrize(("schedule_type", "config"), SEED_ROWS)
def test_five_field_rows_are_written_back_byte_for_byte(schedule_type: str, config: str) -> None:
    codec = default_codec()
    assert codec.encode(codec.decode(schedule_type, config)) == (schedule_type, config)


@pytest.mark.parametrize(
    ("schedule", "config"),
    [
        (CronSchedule("0 30 9 L * *", "Europe/Paris"), "CRON_TZ=Europe/Paris 0 30 9 L * *"),
        (CronSchedule("0 0 * * 5L"), "0 0 * * 5L"),
        (CronSchedule("0 0 15W * *", on_gap="skip"), "DST_GAP=skip 0 0 15W * *"),
        (CronSchedule("*/10 * * * * *"), "*/10 * * * * *"),
    ],
)
def test_extended_expressions_are_stored_as_cron_ext(schedule: CronSchedule, config: str) -> None:
    codec = default_codec()
    assert codec.encode(schedule) == ("cron_ext", config)
    assert codec.decode("cron_ext", config) == schedule
    # Under the type "cron" the same text is refused, as a 5-field reader refuses it.
    with pytest.raises(InvalidScheduleConfigError, match="cron_ext"):
        codec.decode("cron", config)


@pytest.mark.parametrize(
    "config",
    ["0 0 * * L", "0 0 32W * *", "1 2 3 4 5 6 7", "@every 5m", "0 0 * * 1#6", "CRON_TZ=Mars/X L"],
)
def test_malformed_cron_ext_configs(config: str) -> None:
    with pytest.raises(InvalidScheduleConfigError) as caught:
        default_codec().decode("cron_ext", config)
    assert caught.value.schedule_type == "cron_ext"
    assert caught.value.config == config


def _older_codec() -> CompositeScheduleCodec:
    """The codec of a tickwork that predates cron_ext."""
    codec, basic = CompositeScheduleCodec(), BasicScheduleCodec()
    codec.register("interval", IntervalSchedule, basic)
    codec.register("start_at_interval", StartAtIntervalSchedule, basic)
    codec.register("once", OnceSchedule, basic)
    codec.register("cron", CronSchedule, basic)
    return codec


async def test_an_older_reader_quarantines_a_cron_ext_job_and_a_newer_one_runs_it() -> None:
    store = MemoryStore(shared=True)
    await store.initialize()
    now = datetime.now(UTC)
    await store.save_job(
        JobData(
            id="month-end",
            schedule_type="cron_ext",
            schedule_config="0 0 12 L * *",
            next_run=now + timedelta(days=40),
            created_at=now,
            updated_at=now,
        )
    )
    async with AsyncScheduler(store, lambda e: None, codec=_older_codec()) as older:
        job = await older.get_job("month-end")
        assert job.quarantined is not None
        assert "no codec" in job.quarantined
    await store.initialize()  # the scheduler closed it; a shared store keeps its jobs
    stored = (await store.get_jobs(["month-end"]))["month-end"]
    assert (stored.schedule_type, stored.schedule_config) == ("cron_ext", "0 0 12 L * *")
    async with AsyncScheduler(store, lambda e: None) as newer:
        job = await newer.get_job("month-end")
        assert job.quarantined is None
        assert job.schedule == CronSchedule("0 0 12 L * *")
    await store.close()


# --- command line --------------------------------------------------------------------


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'jobs.db'}"


def test_jobs_add_takes_any_registered_type(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    add = ["jobs", "add", "--store", db]
    assert main([*add, "month-end", "--schedule", "cron_ext:0 30 9 L * *"]) == 0
    assert "cron_ext 0 30 9 L * *" in capsys.readouterr().out
    assert main([*add, "grid", "--schedule", "interval:90m"]) == 0
    assert "(interval 1h30m0s)" in capsys.readouterr().out
    # --cron takes the extended grammar too, and the row gets the type it needs.
    assert main([*add, "fridays", "--cron", "0 17 * * 5L", "--timezone", "Asia/Kathmandu"]) == 0
    assert "cron_ext CRON_TZ=Asia/Kathmandu 0 17 * * 5L" in capsys.readouterr().out
    assert main(["jobs", "list", "--store", db]) == 0
    listing = capsys.readouterr().out
    assert "month-end" in listing
    assert "fridays" in listing


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--schedule", "weekly-ish:3"], "no codec handles schedule 'weekly-ish'"),
        (["--schedule", "0 0 L * *"], "--schedule takes TYPE:CONFIG"),
        (["--schedule", "cron:0 0 L * *"], "cron_ext"),
        (["--schedule", "cron_ext:0 0 L * *", "--timezone", "UTC"], "--timezone does not go"),
        (["--schedule", "interval:5m", "--start-at", "2030-01-01T00:00:00Z"], "--start-at"),
    ],
)
def test_jobs_add_schedule_errors(
    db: str, args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["jobs", "add", "--store", db, "job", *args]) == 1
    assert message in capsys.readouterr().err


def test_explain_extended_cron(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["explain", "0 0 9 * * mon#2", "--tz", "Pacific/Chatham", "--count", "2"]
    assert main([*args, "--after", "2025-01-01T00:00:00Z"]) == 0
    out = capsys.readouterr().out
    assert "stored as cron_ext:CRON_TZ=Pacific/Chatham 0 0 9 * * mon#2" in out
    assert "2025-01-13 09:00:00 +1345 (Mon)" in out
    assert "2025-02-10 09:00:00 +1345 (Mon)" in out


def test_explain_any_registered_type_and_unknown_ones(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "cron_ext:0 0 0 L 2 *", "--after", "2025-01-01T00:00:00Z"]) == 0
    assert "2025-02-28 00:00:00 UTC" in capsys.readouterr().out
    assert main(["explain", "@daily", "--count", "1"]) == 0
    assert "stored as cron:0 0 * * *" in capsys.readouterr().out
    assert main(["explain", "rrule-nowhere:FREQ=DAILY"]) == 1
    err = capsys.readouterr().err
    assert "no codec handles schedule 'rrule-nowhere'" in err
    assert "cron_ext" in err  # the known types are listed
    assert "cron expression" not in err
    assert main(["explain", "interval:5m", "--tz", "Europe/Paris"]) == 1
    assert "--tz goes with a cron expression" in capsys.readouterr().err


async def test_a_six_field_job_runs_through_the_scheduler_on_whole_seconds() -> None:
    store = MemoryStore()
    runs: list[JobEvent] = []
    async with AsyncScheduler(store, runs.append) as scheduler:
        await scheduler.add_job("tick", CronSchedule("* * * * * *"))
        await until(lambda: len(runs) >= 2, timeout=5, what="two runs a second apart")
    first, second = runs[0].scheduled_at, runs[1].scheduled_at
    assert first.microsecond == 0
    assert second - first == timedelta(seconds=1)
