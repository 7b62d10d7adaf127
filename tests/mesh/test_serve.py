"""`omega serve <name>`: one deployable per process, reaching the others by OMEGA_<SERVICE>_ADDR.

The deployables run in this test process (each on its own port 0 and its own store handle on the
shared SQLite file, as separate processes would)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from omega.federation.v1 import federation_pb2, federation_pb2_grpc
from omega.orchestrator.v1 import orchestrator_pb2, orchestrator_pb2_grpc
from omega.registry.v1 import registry_pb2, registry_pb2_grpc

from federation.components import FederationSettings
from mesh.serve import DEPLOYABLES, Deployable, NotDeployable, components_for
from mesh.settings import OmegaSettings
from sdk.client import OmegaClient
from tests.conftest import make_settings


@pytest.fixture
def settings(tmp_path: Path) -> OmegaSettings:
    return make_settings(tmp_path)


@pytest.fixture
async def running() -> AsyncIterator[list[Deployable]]:
    started: list[Deployable] = []
    yield started
    for d in reversed(started):
        await d.stop(0.5)


async def _up(running: list[Deployable], name: str, settings: OmegaSettings,
              fs: FederationSettings | None = None) -> str:
    d = Deployable(name, settings, fs or FederationSettings())
    await d.start()
    running.append(d)
    return d.ctx.grpc_target


async def _serving(target: str) -> int:
    async with grpc.aio.insecure_channel(target) as ch:
        resp = await health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=5)
    return int(resp.status)


def test_names_match_the_kubernetes_deployables() -> None:
    k8s = Path(__file__).resolve().parents[2] / "mesh" / "k8s" / "base"
    names = {p.stem for p in (k8s / "services").glob("*.yaml")} | {
        p.stem for p in (k8s / "teams").glob("*.yaml")
    }
    assert set(DEPLOYABLES) == names


def test_unknown_or_unbuilt_deployables_say_so() -> None:
    with pytest.raises(NotDeployable):
        components_for("nope", FederationSettings())
    with pytest.raises(NotDeployable):
        components_for("analytics", FederationSettings())
    out = subprocess.run(
        [sys.executable, "-m", "mesh.cli", "serve", "analytics"], capture_output=True, timeout=60,
        check=False,
    )
    assert out.returncode == 2 and b"analytics" in out.stdout


def test_a_team_whose_policies_file_is_missing_refuses_to_start_in_one_line(
    tmp_path: Path,
) -> None:
    """A pod whose omega-tenant-policies ConfigMap is not mounted exits 2 naming the file, not
    a traceback and not a team running every tenant on default rules."""
    import os

    env = dict(
        os.environ,
        OMEGA_DATA_DIR=str(tmp_path / "data"),
        OMEGA_POLICIES_FILE=str(tmp_path / "absent" / "policies.toml"),
        OMEGA_GRPC_ADDR="127.0.0.1:0",
        OMEGA_HTTP_ADDR="127.0.0.1:0",
    )
    out = subprocess.run(
        [sys.executable, "-m", "mesh.cli", "serve", "shadow"], capture_output=True, timeout=120,
        check=False, env=env, text=True,
    )  # fmt: skip
    assert out.returncode == 2, out.stderr[-2000:]
    assert "omega serve shadow: OMEGA_POLICIES_FILE" in out.stderr
    assert "does not exist" in out.stderr and "Traceback" not in out.stderr


async def test_federation_core_routes_to_agents_of_a_registry_in_another_deployable(
    settings: OmegaSettings, running: list[Deployable]
) -> None:
    registry = await _up(running, "agent-registry", settings)
    core = await _up(running, "federation-core", settings,
                     FederationSettings(agent_registry_addr=registry, ingest_addr="10.0.0.1:50051"))
    assert await _serving(core) == health_pb2.HealthCheckResponse.SERVING
    async with grpc.aio.insecure_channel(registry) as rch, grpc.aio.insecure_channel(core) as cch:
        reg = registry_pb2_grpc.AgentRegistryServiceStub(rch)
        card = registry_pb2.AgentCard(name="triage-a", team="triage", endpoint=core,
                                      capabilities=["triage"], max_in_flight=4)
        agent = (await reg.RegisterAgent(registry_pb2.RegisterAgentRequest(card=card), timeout=5)).agent
        await reg.Heartbeat(registry_pb2.HeartbeatRequest(
            agent_id=agent.agent_id, state=registry_pb2.AGENT_STATE_READY), timeout=5)
        fed = federation_pb2_grpc.FederationServiceStub(cch)
        deadline = time.monotonic() + 10
        while True:  # the core follows the registry's watch stream
            try:
                routed = await fed.RouteTask(
                    federation_pb2.RouteTaskRequest(capability="triage", task_id="t1"), timeout=5)
                break
            except grpc.aio.AioRpcError as err:
                if err.code() != grpc.StatusCode.UNAVAILABLE or time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.05)
        resolved = await fed.ResolveService(federation_pb2.ResolveServiceRequest(service="ingest"), timeout=5)
    assert routed.agent.agent_id == agent.agent_id
    assert [e.address for e in resolved.endpoints] == ["10.0.0.1:50051"]


async def test_ingest_and_orchestrator_share_the_store_and_the_pipeline_runs(
    settings: OmegaSettings, running: list[Deployable]
) -> None:
    ingest = await _up(running, "ingest", settings)
    orchestrator = await _up(running, "orchestrator", settings)
    payload = json.dumps({"id": "S-1", "title": "Mailbox full", "description": "quota"}).encode()
    async with OmegaClient(ingest) as client:
        ticket_id = (await client.ingest_ticket(payload)).ticket_id
    async with grpc.aio.insecure_channel(orchestrator) as ch:
        stub = orchestrator_pb2_grpc.OrchestratorServiceStub(ch)
        deadline = time.monotonic() + 15
        while True:  # the orchestrator team wakes from zero workers and normalizes it
            tl = await stub.GetTicketTimeline(
                orchestrator_pb2.GetTicketTimelineRequest(ticket_id=ticket_id), timeout=5)
            if tl.state == "NORMALIZED" and tl.steps or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
    assert tl.state == "NORMALIZED"
    assert [(s.step, s.outcome) for s in tl.steps] == [
        ("ticket.raw", orchestrator_pb2.STEP_OUTCOME_OK)
    ]
    cli = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "mesh.cli", "tickets", "timeline", ticket_id, "--addr", orchestrator,
        "--json", stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await asyncio.wait_for(cli.communicate(), 60)
    assert cli.returncode == 0
    assert [s["step"] for s in json.loads(out)["steps"]] == ["ticket.raw"]


async def test_gateway_serves_healthz_and_grpc_health(
    settings: OmegaSettings, running: list[Deployable]
) -> None:
    ingest = await _up(running, "ingest", settings)
    gateway = await _up(running, "gateway", settings, FederationSettings(ingest_addr=ingest))
    port = running[-1].http_port
    async with httpx.AsyncClient() as http:
        resp = await http.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
    assert resp.status_code == 200
    assert await _serving(gateway) == health_pb2.HealthCheckResponse.SERVING
