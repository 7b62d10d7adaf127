"""Write-back adapters against local HTTP stand-ins of the Autotask, ConnectWise and Kaseya BMS
write APIs (tests/teams/shadow/standins.py: stand-ins, not the vendors' servers)."""

from __future__ import annotations

import base64

import httpx
from pydantic import SecretStr

from teams.shadow.config import WriteBackTarget
from teams.shadow.writeback import (
    AutotaskWriteBack,
    ConnectWiseWriteBack,
    KaseyaBmsWriteBack,
    TicketChange,
    make_writeback,
)
from tests.teams.shadow.standins import PsaStandIn, serve_standin

PICKLISTS = {"priority": {"1": "High", "2": "Medium"}, "status": {"5": "Complete"}, "queue": {"77": "Service Desk"}}
RESOLVE = TicketChange(priority="High", queue="Service Desk", category="Hardware", resolved=True,
                       resolution="Spooler restarted")


async def test_autotask_patches_tickets_with_ids_from_the_picklists() -> None:
    async with serve_standin(PsaStandIn()) as psa:
        wb = AutotaskWriteBack(WriteBackTarget(kind="autotask", base_url=f"{psa.base_url}/atservicesrest/v1.0",
                                               integration_code="OMEGA", username="api@x", secret=SecretStr("s")))
        result = await wb.write("48120", RESOLVE, idempotency_key="k1", picklists=PICKLISTS)
        await wb.aclose()
    assert result.ok and result.status_code == 200
    seen = psa.seen[0]
    assert (seen.method, seen.path) == ("PATCH", "/atservicesrest/v1.0/Tickets")
    assert seen.body == {"id": 48120, "priority": 1, "queueID": 77, "status": 5, "resolution": "Spooler restarted"}
    assert seen.headers["idempotency-key"] == "k1" and seen.headers["apiintegrationcode"] == "OMEGA"
    assert result.skipped == ("issue_type",)  # "Hardware" has no Autotask id in the picklists


async def test_connectwise_sends_a_json_patch_array_with_basic_auth() -> None:
    async with serve_standin(PsaStandIn()) as psa:
        wb = ConnectWiseWriteBack(WriteBackTarget(
            kind="connectwise", base_url=f"{psa.base_url}/v4_6_release/apis/3.0", company="msp",
            public_key="pub", private_key=SecretStr("priv"), client_id="cid", resolved_status="Resolved"))
        result = await wb.write("991", RESOLVE, idempotency_key="k2")
        await wb.aclose()
    assert result.ok
    seen = psa.seen[0]
    assert (seen.method, seen.path) == ("PATCH", "/v4_6_release/apis/3.0/service/tickets/991")
    assert seen.headers["authorization"] == "Basic " + base64.b64encode(b"msp+pub:priv").decode()
    assert {"op": "replace", "path": "status", "value": {"name": "Resolved"}} in seen.body
    assert {"op": "replace", "path": "board", "value": {"name": "Service Desk"}} in seen.body


async def test_kaseya_bms_puts_the_ticket_and_reads_the_success_envelope() -> None:
    async with serve_standin(PsaStandIn()) as psa:
        wb = KaseyaBmsWriteBack(WriteBackTarget(kind="kaseya_bms", base_url=psa.base_url,
                                                bearer_token=SecretStr("jwt")))
        result = await wb.write("5521", RESOLVE, idempotency_key="k3", picklists=PICKLISTS)
        await wb.aclose()
    assert result.ok
    seen = psa.seen[0]
    assert (seen.method, seen.path) == ("PUT", "/v2/servicedesk/tickets/5521")
    assert seen.body["Id"] == 5521 and seen.body["PriorityId"] == 1 and seen.body["StatusId"] == 5


async def test_transient_failures_are_retried_with_the_same_idempotency_key() -> None:
    async with serve_standin(PsaStandIn(fail_first=2)) as psa:
        wb = AutotaskWriteBack(WriteBackTarget(kind="autotask", base_url=f"{psa.base_url}/atservicesrest/v1.0",
                                               integration_code="c", username="u", secret=SecretStr("s")))
        wb.backoff_s = 0.001
        result = await wb.write("1", TicketChange(priority="High"), idempotency_key="same", picklists=PICKLISTS)
        await wb.aclose()
    assert result.ok and result.attempts == 3
    assert [s.headers["idempotency-key"] for s in psa.seen] == ["same"] * 3


async def test_a_client_error_is_not_retried_and_reports_failure() -> None:
    async with serve_standin(PsaStandIn()) as psa:
        wb = AutotaskWriteBack(WriteBackTarget(kind="autotask", base_url=f"{psa.base_url}/atservicesrest/v1.0"))
        result = await wb.write("1", TicketChange(priority="High"), idempotency_key="k", picklists=PICKLISTS)
        await wb.aclose()
    assert not result.ok and result.status_code == 401 and result.attempts == 1


async def test_an_unreachable_psa_fails_after_bounded_retries() -> None:
    target = WriteBackTarget(kind="kaseya_bms", base_url="http://127.0.0.1:9", attempts=2, timeout_s=1.0)
    wb = make_writeback(target, httpx.AsyncClient(timeout=1.0))
    assert isinstance(wb, KaseyaBmsWriteBack)
    wb.backoff_s = 0.001
    result = await wb.write("1", TicketChange(resolved=True), idempotency_key="k")
    await wb.aclose()
    assert not result.ok and result.attempts == 2 and result.error == "ConnectError"


async def test_without_a_psa_the_write_is_recorded_only() -> None:
    wb = make_writeback(None)
    result = await wb.write("1", TicketChange(category="Email"), idempotency_key="k")
    assert result.ok and result.target == "recording"
