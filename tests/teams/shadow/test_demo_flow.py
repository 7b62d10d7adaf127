"""mesh.demo.show_shadow_flow against a real embedded mesh with the shadow component."""

from __future__ import annotations

import io

from backends.records import TicketState
from mesh.demo import show_shadow_flow
from tests.teams.shadow.conftest import ShadowRig


async def test_the_demo_lists_proposals_and_the_scorecard(rig: ShadowRig) -> None:
    tid = await rig.ingest("DEMO-1", "Printer jammed [tech:alice]", "Reception printer jammed")
    await rig.wait_state(tid, TicketState.PROPOSED)
    out = io.StringIO()
    assert await show_shadow_flow(rig.mesh.grpc_target, out, timeout_s=5, http_port=rig.mesh.http_port) == 0
    text = out.getvalue()
    assert "printer_queue_restart" in text and "alice confirms" in text and "scorecard:" in text
    assert f"http://127.0.0.1:{rig.mesh.http_port}/dashboard" in text
