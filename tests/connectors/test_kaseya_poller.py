"""The Kaseya BMS connector against a local stand-in of the BMS API and a real gRPC server.

There is no public BMS sandbox: the BMS side is tests/connectors/bms_standin.py, a small local
HTTP stand-in (not the real service) that follows the reference shapes in ../shared/reference/psa.
The OMEGA side is a real grpc.aio server on port 0 with a recording IngestService servicer, reached
through sdk.client.OmegaClient over a real channel.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from omega.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from omega.tickets.v1 import ticket_pb2

from connectors.kaseya_bms_api import (
    BmsAuthError,
    BmsRequestFailed,
    BmsUnavailable,
    EndpointRateLimiter,
    KaseyaBmsApi,
    KaseyaBmsSettings,
)
from connectors.kaseya_cli import add_connector_commands
from connectors.kaseya_poller import (
    RECEIVED_VIA,
    Cursor,
    CursorStateError,
    CursorStore,
    IngestFailed,
    KaseyaPoller,
)
from federation.errors import InvalidArgument, NotFound
from federation.serving import add_health_and_reflection, new_server
from sdk.client import OmegaClient, RetryPolicy
from tests.connectors.bms_standin import BmsStandIn, make_ticket

pytestmark = pytest.mark.timeout(60)

OMEGA_TENANT = "acme"
INGEST_SERVICE = ingest_pb2.DESCRIPTOR.services_by_name["IngestService"].full_name


def at(minute: int, second: int = 0) -> str:
    """A naive BMS-style timestamp (as BMS sends them) on the stand-in's day."""
    return f"2025-03-04T14:{minute:02d}:{second:02d}"


def ci(doc: dict[str, Any], name: str) -> Any:
    return next(v for k, v in doc.items() if k.lower() == name.lower())


class RecordingIngest(ingest_pb2_grpc.IngestServiceServicer):
    """IngestTicket that records accepted payloads and can refuse on demand."""

    def __init__(self) -> None:
        self.calls: list[ingest_pb2.IngestTicketRequest] = []
        self.refused = 0
        self.accept_limit: int | None = None  # after this many accepted calls: UNAVAILABLE
        self.dead_letter_ids: set[int] = set()  # refused but "kept as a dead letter"
        self.unknown_tenant = False
        self._versions: set[tuple[int, str]] = set()
        self._waiters: list[tuple[int, asyncio.Event]] = []

    def docs(self) -> list[dict[str, Any]]:
        return [json.loads(c.payload) for c in self.calls]

    def ids(self) -> list[int]:
        return sorted(int(ci(d, "Id")) for d in self.docs())

    def reached(self, count: int) -> asyncio.Event:
        event = asyncio.Event()
        self._waiters.append((count, event))
        if len(self.calls) >= count:
            event.set()
        return event

    async def IngestTicket(  # noqa: N802 - gRPC method name
        self, request: ingest_pb2.IngestTicketRequest, context: grpc.aio.ServicerContext
    ) -> ingest_pb2.IngestTicketResponse:
        doc = json.loads(request.payload)
        ticket_id = int(ci(doc, "Id"))
        if self.unknown_tenant:
            self.refused += 1
            raise NotFound("unknown tenant", reason="UNKNOWN_TENANT")
        if self.accept_limit is not None and len(self.calls) >= self.accept_limit:
            self.refused += 1
            await context.abort(grpc.StatusCode.UNAVAILABLE, "test: the store is down")
        if ticket_id in self.dead_letter_ids:
            self.refused += 1
            raise InvalidArgument("cannot identify", reason="TEST_REFUSED", dead_letter_id="dl-1")
        self.calls.append(request)
        for count, event in self._waiters:
            if len(self.calls) >= count:
                event.set()
        version = (ticket_id, str(ci(doc, "LastActivityUpdate")))
        duplicate = version in self._versions
        self._versions.add(version)
        return ingest_pb2.IngestTicketResponse(
            ticket_id=f"t-{ticket_id}",
            duplicate=duplicate,
            raw_payload_id=f"raw-{len(self.calls)}",
            source=request.source,
        )


@pytest.fixture
def bms() -> Iterator[BmsStandIn]:
    with BmsStandIn() as standin:
        yield standin


@pytest.fixture
async def ingest() -> AsyncIterator[tuple[RecordingIngest, str]]:
    servicer = RecordingIngest()
    server = new_server()
    ingest_pb2_grpc.add_IngestServiceServicer_to_server(servicer, server)
    add_health_and_reflection(server, [INGEST_SERVICE])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield servicer, f"127.0.0.1:{port}"
    finally:
        await server.stop(0)


def settings_for(bms: BmsStandIn, **overrides: Any) -> KaseyaBmsSettings:
    base: dict[str, Any] = {
        "base_url": bms.base_url,
        "username": bms.username,
        "password": bms.password,
        "tenant": bms.company,
        "omega_tenant": OMEGA_TENANT,
        "page_size": 2,
        "initial_lookback_days": 0,
        "max_attempts": 3,
        "backoff_s": 0.01,
        "backoff_max_s": 0.05,
        "rate_limit_backoff_s": 0.01,
    }
    base.update(overrides)
    return KaseyaBmsSettings(**base)


@asynccontextmanager
async def connector(
    settings: KaseyaBmsSettings, addr: str, state: Path, **api_kw: Any
) -> AsyncIterator[tuple[KaseyaPoller, KaseyaBmsApi]]:
    """A fresh poller process's worth of objects (a new instance = a restart)."""
    retry = RetryPolicy(attempts=2, initial_backoff_s=0.01, max_backoff_s=0.02)
    async with (
        KaseyaBmsApi(settings, **api_kw) as api,
        OmegaClient(addr, retry=retry, timeout_s=5.0) as client,
    ):
        yield KaseyaPoller(api, client, CursorStore.for_settings(state, settings), settings), api


def saved(state: Path) -> dict[str, Any]:
    return json.loads(state.read_text())


def put_five(bms: BmsStandIn) -> None:
    bms.put(*(make_ticket(i, at(i)) for i in range(1, 6)))


# ---- polling and the cursor -------------------------------------------------------------------
async def test_first_poll_ingests_every_page(
    bms: BmsStandIn, ingest: tuple[RecordingIngest, str], tmp_path: Path
) -> None:
    servicer, addr = ingest
    put_five(bms)
    state = tmp_path / "state.json"
    async with connector(settings_for(bms), addr, state) as (poller, _api):
        report = await poller.poll_once()

    assert servicer.ids() == [1, 2, 3, 4, 5]
    assert report.ingested == 5 and report.duplicates == 0
    assert report.high_water == at(5)
    for call, doc in zip(servicer.calls, servicer.docs(), strict=True):
        assert call.source == ticket_pb2.SOURCE_SYSTEM_KASEYA_BMS
        assert call.tenant == OMEGA_TENANT
        assert call.received_via == RECEIVED_VIA == "connector:kaseya-bms"
        assert "Result" not in doc and isinstance(doc["Id"], int)  # one ticket, not the envelope
    auth = bms.recorded("authenticate")
    assert len(auth) == 1
    assert auth[0].form == {
        "GrantType": "password",
        "UserName": bms.username,
        "Password": bms.password,
        "Tenant": bms.company,
    }
    searches = bms.recorded("search")
    assert searches[0].body == {"PageNumber": 1, "PageSize": 2, "Sort": "LastActivityUpdate asc"}
    assert all(s.bearer == searches[0].bearer for s in searches)
    # keyset paging: each later search starts one overlap below the last high-water mark
    assert searches[1].body["Filter"] == {"LastActivityUpdateFrom": "2025-03-04T14:01:59"}
    assert saved(state)["high_water"] == at(5)
    assert saved(state)["seen"] == {"5": at(5)}


async def test_cursor_persists_across_restart_and_second_poll_sends_only_changes(
    bms: BmsStandIn, ingest: tuple[RecordingIngest, str], tmp_path: Path
) -> None:
    servicer, addr = ingest
    put_five(bms)
    state = tmp_path / "state.json"
    settings = settings_for(bms)
    async with connector(settings, addr, state) as (poller, _):
        await poller.poll_once()
    assert len(servicer.calls) == 5

    bms.touch(3, at(10), StatusName="In Progress")
    bms.put(make_ticket(6, at(11)))
    before = len(bms.requests)
    async with connector(settings, addr, state) as (restarted, _):
        report = await restarted.poll_once()
        again = await restarted.poll_once()

    assert sorted(int(d["Id"]) for d in servicer.docs()[5:]) == [3, 6]
    assert report.ingested == 2 and again.ingested == 0 and again.duplicates == 0
    first_search = next(r for r in bms.requests[before:] if r.endpoint == "search")
    assert first_search.body["Filter"] == {"LastActivityUpdateFrom": "2025-03-04T14:04:59"}
    changed = next(d for d in servicer.docs()[5:] if d["Id"] == 3)
    assert changed["StatusName"] == "In Progress"
    assert saved(state)["high_water"] == at(11)


@pytest.mark.parametrize("overlap_s", [0.0, 1.0])
async def test_equal_timestamps_across_pages_are_neither_lost_nor_duplicated(
    bms: BmsStandIn, ingest: tuple[RecordingIngest, str], tmp_path: Path, overlap_s: float
) -> None:
    servicer, addr = ingest
    bms.put(*(make_ticket(i, at(30)) for i in range(1, 6)))
    bms.put(make_ticket(9, at(29, 58)))  # outside the 1 s window
    settings = settings_for(bms, overlap_s=overlap_s)
    state = tmp_path / "state.json"
    async with connector(settings, addr, state) as (poller, _):
        await poller.poll_once()
        assert servicer.ids() == [1, 2, 3, 4, 5, 9]
        assert (await poller.poll_once()).ingested == 0
        bms.put(make_ticket(7, at(30)))  # a late write carrying the same time
        report = await poller.poll_once()
    assert report.ingested == 1
    assert servicer.ids() == [1, 2, 3, 4, 5, 7, 9]
    assert set(saved(state)["seen"]) == {"1", "2", "3", "4", "5", "7"}


async def test_unsorted_answers_fall_back_to_whole_result_sets(
    ingest: tuple[RecordingIngest, str], tmp_path: Path
) -> None:
    servicer, addr = ingest
    with BmsStandIn(ignore_sort=True) as bms:
        put_five(bms)
        state = tmp_path / "state.json"
        async with connector(settings_for(bms), addr, state) as (poller, _):
            first = await poller.poll_once()
            bms.touch(2, at(20))
            second = await poller.poll_once()
    assert first.ordered is False and first.ingested == 5
    assert second.ingested == 1
    assert servicer.ids() == [1, 2, 2, 3, 4, 5]
    assert saved(state)["high_water"] == at(20)


async def test_camel_case_keys_work(ingest: tuple[RecordingIngest, str], tmp_path: Path) -> None:
    servicer, addr = ingest
    with BmsStandIn(camel_case=True) as bms:
        put_five(bms)
        state = tmp_path / "state.json"
        async with connector(settings_for(bms), addr, state) as (poller, _):
            await poller.poll_once()
            bms.touch(4, at(40))
            second = await poller.poll_once()
    assert servicer.ids() == [1, 2, 3, 4, 4, 5]
    assert second.ingested == 1
    assert (
        "lastActivityUpdate" in servicer.docs()[0]
        and "LastActivityUpdate" not in servicer.docs()[0]
    )
    assert saved(state)["high_water"] == at(40)


# ---- tokens -----------------------------------------------------------------------------------
async def test_token_expiry_mid_run_reauthenticates(
    bms: BmsStandIn, ingest: tuple[RecordingIngest, str], tmp_path: Path
) -> None:
    servicer, addr = ingest
    put_five(bms)
    bms.fail_next("search", "expire", after=1)  # the second search finds its token expired
    async with connector(settings_for(bms), addr, tmp_path / "s.json") as (poller, api):
        report = await poller.poll_once()
    assert servicer.ids() == [1, 2, 3, 4, 5] and report.ingested == 5
    assert api.authentications == 2
    statuses = [r.status for r in bms.recorded("search")]
    assert 401 in statuses and statuses[-1] == 200
    refused = next(r for r in bms.recorded("search") if r.status == 401)
    retried = bms.recorded("search")[statuses.index(401) + 1]
    assert retried.bearer != refused.bearer and retried.body == refused.body


async def test_token_is_refreshed_before_it_expires(
    bms: BmsStandIn, ingest: tuple[RecordingIngest, str], tmp_path: Path
) -> None:
    _servicer, addr = ingest
    put_five(bms)
    now = [datetime.now(UTC)]
    async with connector(settings_for(bms), addr, tmp_path / "s.json", clock=lambda: now[0]) as (
        poller,
        api,
    ):
        await poller.poll_once()
        first_bearer = bms.recorded("search")[-1].bearer
        now[0] += timedelta(hours=2)  # past AccessTokenExpireOn (the stand-in issues 1 h tokens)
        bms.touch(1, at(50))
        report = await poller.poll_once()
    assert report.ingested == 1
    assert api.authentications == 1 and api.refreshes == 1
    refresh = bms.recorded("refreshtoken")
    assert len(refresh) == 1 and refresh[0].form["AccessToken"] == first_bearer
    assert bms.recorded("search")[-1].bearer != first_bearer


async def test_bad_credentials_are_an_auth_error(
    bms: BmsStandIn, ingest: tuple[RecordingIngest, str], tmp_path: Path
) -> None:
    _servicer, addr = ingest
    settings = settings_for(bms, password="wrong")
    async with connector(settings, addr, tmp_path / "s.json") as (poller, _):
        with pytest.raises(BmsAuthError) as err:
            await poller.poll_once()
    assert err.value.code == grpc.StatusCode.UNAUTHENTICATED
    assert err.value.bms_code == "InvalidCredentials"
    assert bms.recorded("search") == []


# ---- failures and the cursor ------------------------------------------------------------------
async def test_success_false_is_a_clear_error_and_does_not_advance_the_cursor(
    bms: BmsStandIn, ingest: tuple[RecordingIngest, str], tmp_path: Path
) -> None:
    servicer, addr = ingest
    put_five(bms)
    state = tmp_path / "state.json"
    bms.fail_next("search", "success_false", after=1)  # HTTP 200, Success:false on page 2
    async with connector(settings_for(bms), addr, state) as (poller, _):
        with pytest.raises(BmsRequestFailed) as err:
            await poller.poll_once()
        assert err.value.code == grpc.StatusCode.FAILED_PRECONDITION
        assert err.value.bms_code == "ServerError" and err.value.upstream_status == 200
        assert servicer.ids() == [1, 2]
        assert saved(state)["high_water"] == at(2)  # only page 1 was committed
        report = await poller.poll_once()
    assert report.ingested == 3
    assert servicer.ids() == [1, 2, 3, 4, 5]


@pytest.mark.parametrize("fault", ["503", "429"])
async def test_transient_fault_then_success_is_retried(
    bms: BmsStandIn, ingest: tuple[RecordingIngest, str], tmp_path: Path, fault: str
) -> None:
    servicer, addr = ingest
    put_five(bms)
    bms.fail_next("search", fault)
    async with connector(settings_for(bms), addr, tmp_path / "s.json") as (poller, _):
        report = await poller.poll_once()
    assert report.ingested == 5 and servicer.ids() == [1, 2, 3, 4, 5]
    searches = bms.recorded("search")
    assert searches[0].status == int(fault) and searches[1].status == 200
    assert searches[0].body == searches[1].body


async def test_persistent_5xx_gives_up_as_unavailable(
    bms: BmsStandIn, ingest: tuple[RecordingIngest, str], tmp_path: Path
) -> None:
    servicer, addr = ingest
    put_five(bms)
    bms.fail_next("search", "503", times=3)  # max_attempts=3
    state = tmp_path / "s.json"
    async with connector(settings_for(bms), addr, state) as (poller, _):
        with pytest.raises(BmsUnavailable) as err:
            await poller.poll_once()
    assert err.value.code == grpc.StatusCode.UNAVAILABLE and err.value.upstream_status == 503
    assert len(bms.recorded("search")) == 3
    assert servicer.calls == [] and not state.exists()


async def test_ingest_unavailable_does_not_advance_the_cursor(
    bms: BmsStandIn, ingest: tuple[RecordingIngest, str], tmp_path: Path
) -> None:
    servicer, addr = ingest
    put_five(bms)
    state = tmp_path / "state.json"
    servicer.accept_limit = 0
    async with connector(settings_for(bms), addr, state) as (poller, _):
        with pytest.raises(IngestFailed) as err:
            await poller.poll_once()
        assert err.value.code == grpc.StatusCode.UNAVAILABLE
        assert not state.exists() and servicer.refused >= 2  # the SDK retried

        servicer.accept_limit = 2  # page 1 goes through, page 2 does not
        with pytest.raises(IngestFailed):
            await poller.poll_once()
        assert saved(state)["high_water"] == at(2)

    servicer.accept_limit = None
    async with connector(settings_for(bms), addr, state) as (restarted, _):
        report = await restarted.poll_once()
    assert report.ingested == 3
    assert servicer.ids() == [1, 2, 3, 4, 5]


async def test_dead_lettered_refusal_advances_but_other_refusals_do_not(
    bms: BmsStandIn, ingest: tuple[RecordingIngest, str], tmp_path: Path
) -> None:
    servicer, addr = ingest
    put_five(bms)
    state = tmp_path / "state.json"
    servicer.unknown_tenant = True
    async with connector(settings_for(bms), addr, state) as (poller, _):
        with pytest.raises(IngestFailed) as err:
            await poller.poll_once()
        assert err.value.code == grpc.StatusCode.NOT_FOUND and not state.exists()
        servicer.unknown_tenant = False
        servicer.dead_letter_ids = {2}
        report = await poller.poll_once()
    assert report.dead_lettered == 1 and report.ingested == 4
    assert saved(state)["high_water"] == at(5)


# ---- state file, pacing, secrets, CLI, run loop ------------------------------------------------
def test_cursor_file_of_another_bms_tenant_or_corrupt_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    ours = KaseyaBmsSettings(base_url="https://bms.example", tenant="A", username="u")
    CursorStore.for_settings(path, ours).save(Cursor(at(1), {"1": at(1)}))
    assert CursorStore.for_settings(path, ours).load() == Cursor(at(1), {"1": at(1)})
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]  # no temp file left behind
    other = KaseyaBmsSettings(base_url="https://bms.example", tenant="B", username="u")
    with pytest.raises(CursorStateError):
        CursorStore.for_settings(path, other).load()
    path.write_text("{not json")
    with pytest.raises(CursorStateError) as err:
        CursorStore.for_settings(path, ours).load()
    assert err.value.code == grpc.StatusCode.FAILED_PRECONDITION


async def test_rate_limiter_paces_each_endpoint_separately() -> None:
    now = [0.0]
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    limiter = EndpointRateLimiter(3600, 2, clock=lambda: now[0], sleep=fake_sleep)
    for _ in range(2):
        await limiter.acquire("POST tickets/search")
    await limiter.acquire("GET tickets/{id}")
    assert slept == []
    await limiter.acquire("POST tickets/search")  # the bucket is empty: wait one token (1 s)
    assert slept == [pytest.approx(1.0)]


async def test_secrets_never_reach_the_logs(
    bms: BmsStandIn,
    ingest: tuple[RecordingIngest, str],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _servicer, addr = ingest
    put_five(bms)
    bms.fail_next("search", "expire", after=1)
    settings = settings_for(bms)
    caplog.set_level(logging.DEBUG)
    async with connector(settings, addr, tmp_path / "s.json") as (poller, _):
        await poller.poll_once()
    tokens = {r.bearer for r in bms.requests if r.bearer}
    text = "\n".join(r.getMessage() for r in caplog.records) + repr(settings) + str(settings)
    assert bms.password not in text
    assert tokens and not any(t in text for t in tokens)
    assert "Stand-in details" not in text  # no ticket text either


async def test_cli_once_runs_one_cycle(
    bms: BmsStandIn,
    ingest: tuple[RecordingIngest, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    servicer, addr = ingest
    put_five(bms)
    env = {
        "BASE_URL": bms.base_url,
        "USERNAME": bms.username,
        "PASSWORD": bms.password,
        "TENANT": bms.company,
        "OMEGA_TENANT": OMEGA_TENANT,
        "PAGE_SIZE": "2",
        "INITIAL_LOOKBACK_DAYS": "0",
    }
    for key, value in env.items():
        monkeypatch.setenv(f"OMEGA_KASEYA_BMS_{key}", value)
    parser = argparse.ArgumentParser(prog="omega")
    add_connector_commands(parser.add_subparsers(dest="command", required=True))
    state = tmp_path / "cli-state.json"
    args = parser.parse_args(
        ["connector", "kaseya-bms", "--once", "--omega-addr", addr, "--state-file", str(state)]
    )
    rc = await asyncio.to_thread(args.func, args)  # the handler runs its own event loop
    assert rc == 0
    assert servicer.ids() == [1, 2, 3, 4, 5]
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["ingested"] == 5 and summary["high_water"] == at(5)
    assert saved(state)["high_water"] == at(5)

    monkeypatch.delenv("OMEGA_KASEYA_BMS_PASSWORD")
    assert await asyncio.to_thread(args.func, args) == 2


async def test_run_polls_until_stopped(
    bms: BmsStandIn, ingest: tuple[RecordingIngest, str], tmp_path: Path
) -> None:
    servicer, addr = ingest
    put_five(bms)
    stop = asyncio.Event()
    async with connector(settings_for(bms), addr, tmp_path / "s.json") as (poller, _):
        task = asyncio.create_task(poller.run(stop, interval_s=0.05))
        await asyncio.wait_for(servicer.reached(5).wait(), 10)
        bms.touch(5, at(55))
        await asyncio.wait_for(servicer.reached(6).wait(), 10)  # a later cycle saw the change
        stop.set()
        await asyncio.wait_for(task, 10)
    assert servicer.ids() == [1, 2, 3, 4, 5, 5]


async def test_stop_during_a_long_rate_limit_wait_ends_promptly_with_the_cursor_intact(
    bms: BmsStandIn, ingest: tuple[RecordingIngest, str], tmp_path: Path
) -> None:
    servicer, addr = ingest
    put_five(bms)
    bms.fail_next("search", "429_slow", after=1)  # page 2 answers 429 with Retry-After: 30
    state = tmp_path / "s.json"
    stop = asyncio.Event()
    async with connector(settings_for(bms), addr, state) as (poller, _):
        task = asyncio.create_task(poller.run(stop, interval_s=60, stop_grace_s=0.2))
        assert await asyncio.to_thread(bms.wait_for_requests, "search", 2)
        stop.set()
        await asyncio.wait_for(task, 5)  # far sooner than the 30 s Retry-After
    assert servicer.ids() == [1, 2]
    assert saved(state)["high_water"] == at(2)


async def test_fetch_full_ticket_sends_the_full_ticket(
    bms: BmsStandIn, ingest: tuple[RecordingIngest, str], tmp_path: Path
) -> None:
    servicer, addr = ingest
    put_five(bms)
    settings = settings_for(bms, fetch_full_ticket=True)
    async with connector(settings, addr, tmp_path / "s.json") as (poller, _):
        await poller.poll_once()
    assert sorted(r.path for r in bms.recorded("ticket")) == [
        f"/v2/servicedesk/tickets/{i}" for i in range(1, 6)
    ]
    assert all("CCs" in doc for doc in servicer.docs())


async def test_a_ticket_changed_between_pages_does_not_hide_another(
    bms: BmsStandIn, ingest: tuple[RecordingIngest, str], tmp_path: Path
) -> None:
    """With offset paging, ticket 1 moving to the end would shift ticket 3 onto page 1 unseen."""
    servicer, addr = ingest
    put_five(bms)
    bms.before_search(2, lambda: bms.touch(1, at(10)))
    async with connector(settings_for(bms), addr, tmp_path / "s.json") as (poller, _):
        report = await poller.poll_once()
    assert servicer.ids() == [1, 1, 2, 3, 4, 5]
    assert report.high_water == at(10)


async def test_the_embedded_ingest_accepts_the_poller_payloads_once(
    mesh: Any, tmp_path: Path
) -> None:
    """Against the real embedded IngestService: camelCase rows are accepted, redelivery is a
    duplicate (ingest is idempotent per ticket version), and the tickets can be read back."""
    with BmsStandIn(camel_case=True) as bms:
        put_five(bms)
        settings = settings_for(bms, omega_tenant="")
        async with KaseyaBmsApi(settings) as api, OmegaClient(mesh.grpc_target) as client:
            first = KaseyaPoller(
                api, client, CursorStore.for_settings(tmp_path / "a", settings), settings
            )
            again = KaseyaPoller(
                api, client, CursorStore.for_settings(tmp_path / "b", settings), settings
            )
            report = await first.poll_once()
            redelivery = await again.poll_once()  # a lost cursor: everything is sent again
            tickets, _ = await client.list_tickets(page_size=50)
    assert (report.ingested, report.duplicates) == (5, 0)
    assert (redelivery.ingested, redelivery.duplicates) == (0, 5)
    assert sorted(t.external_id for t in tickets) == ["1", "2", "3", "4", "5"]
    assert {t.source for t in tickets} == {ticket_pb2.SOURCE_SYSTEM_KASEYA_BMS}
