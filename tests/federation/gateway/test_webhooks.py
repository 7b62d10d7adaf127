"""PSA webhooks over real HTTP into the real gRPC ingest (embedded mesh on port 0)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path

import httpx
import pytest

from mesh.app import EmbeddedMesh
from mesh.settings import OmegaSettings
from tests.conftest import RuleOfThumbTriager, make_settings

AUTOTASK_SECRET = "test-secret-key"  # the reference test vector's secret
CW_KEY = "test-signing-key"  # the reference test vector's signing key
BMS_SECRET = "bms-shared-secret-for-tests"



@pytest.fixture
def mesh_components() -> list[object]:
    """Only ingest and the pipeline: no downstream team moves tickets past TRIAGED here."""
    return []


def autotask_sig(raw: bytes, secret: str = AUTOTASK_SECRET) -> str:
    return "sha1=" + base64.b64encode(hmac.new(secret.encode(), raw, hashlib.sha1).digest()).decode()


def cw_sig(raw: bytes, key: str = CW_KEY) -> str:
    k = hashlib.sha256(key.encode()).digest()
    return base64.b64encode(hmac.new(k, raw, hashlib.sha256).digest()).decode()


@pytest.fixture
async def hooked(tmp_path: Path) -> EmbeddedMesh:  # type: ignore[misc]
    settings: OmegaSettings = make_settings(tmp_path)
    settings.data_dir.mkdir(parents=True)
    settings.tenants_path.write_text(
        "[tenants.default]\n"
        f'autotask_webhook_secret = "{AUTOTASK_SECRET}"\n'
        f'connectwise_signing_key = "{CW_KEY}"\n'
        f'kaseya_bms_webhook_secret = "{BMS_SECRET}"\n'
        "[tenants.acme]\n"
        f'autotask_webhook_secret = "acme-only-secret"\n'
    )
    m = EmbeddedMesh(settings, triager=RuleOfThumbTriager(), components=[])
    await m.start()
    yield m
    await m.stop(grace_s=0.5)


async def ticket_count(m: EmbeddedMesh) -> int:
    assert m.store is not None
    return sum((await m.store.tickets.count_by_state()).values())


async def test_autotask_reference_vector_is_accepted_once(hooked: EmbeddedMesh, psa_reference: Path) -> None:
    raw = (psa_reference / "autotask_webhook_ticket_create.raw_body.txt").read_bytes()
    assert autotask_sig(raw) == "sha1=a9TcNDp2WWx4p5+XE5nJ/T52Biw="  # the documented vector
    url = f"http://127.0.0.1:{hooked.http_port}/webhooks/autotask"
    async with httpx.AsyncClient() as http:
        first = await http.post(url, content=raw, headers={"X-Hook-Signature": autotask_sig(raw)})
        again = await http.post(url, content=raw, headers={"X-Hook-Signature": autotask_sig(raw)})
    assert first.status_code == 202 and first.json()["duplicate"] is False
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert again.json()["ticket_id"] == first.json()["ticket_id"]


async def test_bad_or_missing_signature_is_401_and_nothing_is_stored(hooked: EmbeddedMesh) -> None:
    raw = json.dumps({"Action": "Create", "EntityType": "Ticket", "Id": 5, "SequenceNumber": 1,
                      "Guid": "g", "Fields": {"Title": "x"}}).encode()
    base = f"http://127.0.0.1:{hooked.http_port}/webhooks"
    async with httpx.AsyncClient() as http:
        responses = [
            await http.post(f"{base}/autotask", content=raw),
            await http.post(f"{base}/autotask", content=raw, headers={"X-Hook-Signature": autotask_sig(raw, "wrong")}),
            await http.post(f"{base}/autotask", content=raw + b" ", headers={"X-Hook-Signature": autotask_sig(raw)}),
            await http.post(f"{base}/connectwise", content=raw, headers={"x-content-signature": cw_sig(raw, "nope")}),
            await http.post(f"{base}/kaseya-bms", content=raw, headers={"X-Kaseya-Secret": "guess"}),
            # The acme tenant's secret differs from the default tenant's.
            await http.post(f"{base}/autotask/acme", content=raw, headers={"X-Hook-Signature": autotask_sig(raw)}),
        ]
    assert [r.status_code for r in responses] == [401] * 6
    assert all(r.json()["error"]["reason"] for r in responses)
    assert await ticket_count(hooked) == 0
    assert hooked.store is not None
    assert await hooked.store.dead_letters.list("default", include_replayed=True, limit=10, before=None) == []


async def test_malformed_json_with_a_good_signature_is_400_and_kept(hooked: EmbeddedMesh) -> None:
    raw = b'{"Action": "Create", "Id": 12, '
    async with httpx.AsyncClient() as http:
        resp = await http.post(
            f"http://127.0.0.1:{hooked.http_port}/webhooks/autotask",
            content=raw,
            headers={"X-Hook-Signature": autotask_sig(raw)},
        )
    assert resp.status_code == 400
    assert resp.json()["error"]["reason"] == "INVALID_ARGUMENT"
    assert "dead letter" in resp.json()["error"]["message"]
    assert hooked.store is not None
    dead = await hooked.store.dead_letters.list("default", include_replayed=False, limit=10, before=None)
    assert len(dead) == 1
    raw_kept = await hooked.store.journal.get_raw(dead[0].raw_payload_id)
    assert raw_kept is not None and raw_kept.body == raw


async def test_unknown_tenant_and_vendor_are_404(hooked: EmbeddedMesh) -> None:
    base = f"http://127.0.0.1:{hooked.http_port}/webhooks"
    async with httpx.AsyncClient() as http:
        tenant = await http.post(f"{base}/autotask/initech", content=b"{}")
        vendor = await http.post(f"{base}/servicenow", content=b"{}")
        health = await http.get(f"http://127.0.0.1:{hooked.http_port}/healthz")
    assert tenant.status_code == 404 and tenant.json()["error"]["reason"] == "UNKNOWN_TENANT"
    assert vendor.status_code == 404
    assert health.status_code == 200 and health.json()["status"] == "ok"


async def test_connectwise_callback_with_a_configured_key(hooked: EmbeddedMesh, psa_reference: Path) -> None:
    raw = (psa_reference / "connectwise_callback_ticket.json").read_bytes()
    deleted = (psa_reference / "connectwise_callback_ticket_deleted.raw_body.txt").read_bytes()
    assert cw_sig(deleted) == "APjqktFomRjdPvFfBMi+kMMW0LkkD/AcPFY3LOZCBSQ="  # the documented vector
    url = f"http://127.0.0.1:{hooked.http_port}/webhooks/connectwise"
    async with httpx.AsyncClient() as http:
        created = await http.post(url, content=raw, headers={"x-content-signature": cw_sig(raw)})
        gone = await http.post(url, content=deleted, headers={"x-content-signature": cw_sig(deleted)})
    assert created.status_code == 202, created.text
    assert gone.status_code == 202, gone.text
    assert gone.json()["ticket_id"] == created.json()["ticket_id"]


async def test_kaseya_bms_shared_secret_and_trigger_body(hooked: EmbeddedMesh) -> None:
    raw = json.dumps({"TicketId": 48213, "Event": "TicketCreated"}).encode()
    mac = hmac.new(BMS_SECRET.encode(), raw, hashlib.sha256).hexdigest()
    base = f"http://127.0.0.1:{hooked.http_port}/webhooks/kaseya-bms"
    async with httpx.AsyncClient() as http:
        by_secret = await http.post(base, content=raw, headers={"X-Kaseya-Secret": BMS_SECRET})
        by_hmac = await http.post(base, content=raw, headers={"X-Kaseya-Signature": mac})
    assert by_secret.status_code == 202, by_secret.text
    assert by_hmac.status_code == 200 and by_hmac.json()["duplicate"] is True


async def test_a_valid_event_about_something_else_is_acknowledged_not_queued(
    hooked: EmbeddedMesh,
) -> None:
    """Autotask's deactivation notice must get a 2xx, or Autotask retries and gives up."""
    raw = json.dumps({"Action": "Deactivated", "Guid": "a1da62a4", "EntityType": "Ticket"}).encode()
    async with httpx.AsyncClient() as http:
        resp = await http.post(
            f"http://127.0.0.1:{hooked.http_port}/webhooks/autotask",
            content=raw,
            headers={"X-Hook-Signature": autotask_sig(raw)},
        )
    assert resp.status_code == 202, resp.text
    assert resp.json()["ignored"] is True
    assert await ticket_count(hooked) == 0
    assert hooked.store is not None
    assert await hooked.store.dead_letters.list("default", include_replayed=True, limit=5, before=None) == []


async def test_datto_rmm_webhook_needs_the_tenant_token(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    settings.data_dir.mkdir(parents=True)
    settings.tenants_path.write_text('[tenants.default]\ndatto_rmm_webhook_token = "tok-123"\n')
    m = EmbeddedMesh(settings, triager=RuleOfThumbTriager(), components=[])
    await m.start()
    try:
        raw = json.dumps({"alertUID": "b0f6a3e2-55a0", "alertMessage": "Disk usage on C: exceeded threshold",
                          "platform": "merlot", "dattoSiteDetails": "Acme"}).encode()
        base = f"http://127.0.0.1:{m.http_port}/webhooks/datto-rmm"
        async with httpx.AsyncClient() as http:
            none = await http.post(base, content=raw)
            wrong = await http.post(base, content=raw, params={"token": "tok-999"})
            good = await http.post(base, content=raw, params={"token": "tok-123"})
            header = await http.post(base, content=raw, headers={"X-Omega-Token": "tok-123"})
        assert (none.status_code, wrong.status_code) == (401, 401)
        assert good.status_code == 202, good.text
        assert header.status_code == 200 and header.json()["duplicate"] is True
    finally:
        await m.stop(grace_s=0.5)
