"""Fixtures for the shadow team: an embedded mesh with only the shadow component, a triager
whose answers the test controls through the ticket text, and a PSA stand-in."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from backends.records import TicketState
from connectors.contract import Source
from mesh.app import EmbeddedMesh
from sdk.client import OmegaClient
from teams.shadow.component import ShadowComponent
from teams.shadow.executor import RecordingExecutor
from teams.shadow.service import ShadowService
from tests.conftest import make_settings
from tests.teams.shadow.standins import PsaStandIn, serve_standin

AUTOTASK_SECRET = "shadow-test-autotask-secret"


class KeywordTriager:
    """Deterministic triage for the shadow team's mechanics: the text picks the labels.

    "locked" → Account / Access (0.95), "printer" → Printing (0.90), "disk" → Disk space (0.93),
    else General (0.7). "[tech:NAME]" routes to NAME; "[low]" lowers every confidence to 0.5;
    "[review]" marks the triage for review."""

    def needs_embedding(self, tenant: str) -> bool:
        return False

    def triage(self, tenant: str, *, title: str, description: str, **_: Any) -> dict[str, Any]:
        text = f"{title} {description}".lower()
        if "locked" in text:
            cat, conf = "Account / Access", 0.95
        elif "printer" in text:
            cat, conf = "Printing", 0.90
        elif "disk" in text:
            cat, conf = "Disk space", 0.93
        else:
            cat, conf = "General", 0.7
        if "[low]" in text:
            conf = 0.5
        tech = ""
        if "[tech:" in text:
            tech = text.split("[tech:", 1)[1].split("]", 1)[0]

        def pred(label: str, c: float, alts: list[str]) -> dict[str, Any]:
            return {"label": label, "confidence": c, "alternatives": [[a, 0.1] for a in [label, *alts]],
                    "method": "learned", "needs_review": False}

        out = {
            "category": pred(cat, conf, ["Email", "Network"]),
            "priority": pred("High" if "urgent" in text else "Medium", 0.8, ["Low", "Critical"]),
            "queue": pred("Service Desk", 0.9, ["Monitoring"]),
            "needs_review": "[review]" in text,
            "reasons": [f"the words point to {cat}"],
            "model_version": "kw-1",
            "language": "en",
            "decided_by": "local",
        }
        if tech:
            out["technician"] = pred(tech, 0.9, [])
        return out


@dataclass
class ShadowRig:
    mesh: EmbeddedMesh
    service: ShadowService
    executor: RecordingExecutor
    client: OmegaClient
    psa: PsaStandIn

    async def ingest(self, ext_id: str, title: str, description: str = "", **fields: Any) -> str:
        doc = {"id": ext_id, "title": title, "description": description, "version": "1", "event": "created",
               **fields}
        res = await self.client.ingest_ticket(json.dumps(doc).encode(), source=Source.GENERIC)
        return res.ticket_id

    async def wait(self, predicate: Callable[[], Any], timeout_s: float = 10.0) -> None:
        """Wait (bounded) until ``await predicate()`` is truthy, woken by the service's changes."""
        changed = asyncio.Event()
        self.service.listeners.append(lambda _t: changed.set())
        async with asyncio.timeout(timeout_s):
            while not await predicate():
                changed.clear()
                try:
                    await asyncio.wait_for(changed.wait(), 0.2)  # the pipeline may also settle silently
                except TimeoutError:
                    pass

    async def wait_state(self, ticket_id: str, *states: TicketState) -> None:
        assert self.mesh.store is not None
        store = self.mesh.store

        async def ok() -> bool:
            t = await store.tickets.get("default", ticket_id)
            return t is not None and t.state in states

        await self.wait(ok)


def tenants_toml(psa_url: str) -> str:
    return (
        "[tenants.default]\n"
        f'autotask_webhook_secret = "{AUTOTASK_SECRET}"\n'
        "[tenants.default.picklists.autotask.priority]\n"
        '"1" = "High"\n"2" = "Medium"\n"3" = "Low"\n'
        "[tenants.default.picklists.autotask.status]\n"
        '"1" = "New"\n"5" = "Complete"\n'
        "[tenants.default.picklists.autotask.queue]\n"
        '"29682833" = "Service Desk"\n'
        "[tenants.acme]\n"
        "[shadow.default]\n"
        'technicians = ["alice", "bob"]\n'
        'auto_apply = ["disk_cleanup", "account_unlock"]\n'
        'co_managed_domains = ["cotenant.example"]\n'
        'co_managed_companies = ["Contoso IT"]\n'
        'queue_technicians = { "Service Desk" = "dora" }\n'
        "[shadow.default.writeback.autotask]\n"
        'kind = "autotask"\n'
        f'base_url = "{psa_url}/atservicesrest/v1.0"\n'
        'integration_code = "OMEGA"\nusername = "api@msp.example"\nsecret = "s3cret"\n'
    )


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[ShadowRig]:
    async with serve_standin(PsaStandIn()) as psa:
        settings = make_settings(tmp_path)
        settings.data_dir.mkdir(parents=True)
        settings.tenants_path.write_text(tenants_toml(psa.base_url))
        executor = RecordingExecutor()
        component = ShadowComponent(executor=executor)
        mesh = EmbeddedMesh(settings, triager=KeywordTriager(), components=[component])
        await mesh.start()
        assert component.service is not None
        client = OmegaClient(mesh.grpc_target, technician="alice")
        try:
            yield ShadowRig(mesh, component.service, executor, client, psa)
        finally:
            await client.close()
            await mesh.stop(grace_s=0.5)
