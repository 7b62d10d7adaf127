"""The MCP servers in-process (the SDK's in-memory client) against a real embedded mesh."""

from __future__ import annotations

import json
from typing import Any

import pytest
from mcp import Client

from mcp_servers import shadow, triage
from mcp_servers.servers import make_omega_server
from mcp_servers.untrusted import BEGIN, END
from tests.mcp_servers.conftest import Rig

TRIAGE_TOOLS = {"triage_ticket", "get_ticket", "search_tickets", "find_similar", "explain_triage"}
SHADOW_TOOLS = {"my_queue", "draft_reply", "propose_action", "confirm_action", "correct_triage"}
WRITES = {
    "confirm_action": (True, False),
    "correct_triage": (False, True),
}  # destructive, idempotent

pytestmark = pytest.mark.asyncio(loop_scope="module")


def check_tool_contract(tools: list[Any]) -> None:
    """Every tool: described parameters, a structured output schema, and full annotations."""
    for tool in tools:
        assert tool.description, tool.name
        assert tool.output_schema and tool.output_schema.get("type") == "object", tool.name
        for name, prop in tool.input_schema.get("properties", {}).items():
            assert prop.get("description"), f"{tool.name}.{name} has no description"
        ann = tool.annotations
        assert ann is not None, tool.name
        assert None not in (ann.read_only_hint, ann.destructive_hint, ann.idempotent_hint), (
            tool.name
        )
        if tool.name in WRITES:
            assert ann.read_only_hint is False
            assert (ann.destructive_hint, ann.idempotent_hint) == WRITES[tool.name], tool.name
        else:
            assert ann.read_only_hint is True and ann.destructive_hint is False, tool.name


async def require_ticket_actions(rig: Rig) -> None:
    """Skip when mesh/app.py does not hand the shadow team to TicketService yet (issue 5)."""
    import grpc

    try:
        await rig.client.resolve_ticket("tkt_probe")
    except grpc.aio.AioRpcError as err:
        if err.code() is grpc.StatusCode.FAILED_PRECONDITION:
            pytest.skip(
                "TicketService technician actions are not wired to the shadow team in mesh/app.py"
            )


def error_code(result: Any) -> str:
    """The status name a failed tool call starts its message with (after the SDK's prefix)."""
    assert result.is_error, result
    text = result.content[0].text
    return text.split(": ", 2)[1] if text.startswith("Error executing tool") else text.split(":")[0]


async def test_triage_server_lists_tools_with_schemas_and_annotations(rig: Rig) -> None:
    async with Client(triage.make_server(rig.deps())) as c:
        tools = (await c.list_tools()).tools
        assert {t.name for t in tools} == TRIAGE_TOOLS
        check_tool_contract(tools)
        templates = (await c.list_resource_templates()).resource_templates
        assert [t.uri_template for t in templates] == ["ticket://{ticket_id}"]
        assert "omega://categories" in {str(r.uri) for r in (await c.list_resources()).resources}
        assert {p.name for p in (await c.list_prompts()).prompts} == {"triage_this_ticket"}


async def test_triage_ticket_predicts_without_creating_a_ticket(rig: Rig) -> None:
    before, _ = await rig.client.list_tickets(tenant="default", page_size=100)
    async with Client(triage.make_server(rig.deps())) as c:
        r = await c.call_tool("triage_ticket", {"title": "Printer", "text": "The printer jams"})
        assert not r.is_error
        out = r.structured_content
        assert out["triage"]["category"]["label"] == "Printing"
        assert out["triage"]["confidence"] == pytest.approx(0.91)
        assert out["ticket_created"] is False
        assert out["description"].startswith(BEGIN) and out["description"].endswith(END)
        payload = {
            "id": "X-9",
            "title": "Outlook broken",
            "description": "mail down",
            "version": "1",
            "event": "created",
        }
        r = await c.call_tool("triage_ticket", {"payload": payload, "source": "generic"})
        assert not r.is_error and r.structured_content["source"] == "generic"
        assert r.structured_content["triage"]["category"]["label"] == "Email"
    after, _ = await rig.client.list_tickets(tenant="default", page_size=100)
    assert [t.id for t in after] == [t.id for t in before]


async def test_ticket_tools_read_the_callers_tenant_only(rig: Rig) -> None:
    async with Client(triage.make_server(rig.deps())) as c:
        r = await c.call_tool("get_ticket", {"ticket_id": rig.printer_id})
        assert not r.is_error and r.structured_content["id"] == rig.printer_id
        assert r.structured_content["title"].startswith(BEGIN)
        assert "IGNORE PREVIOUS INSTRUCTIONS" in r.structured_content["description"]
        assert r.structured_content["description"].endswith(END)

        r = await c.call_tool("search_tickets", {"query": "printer"})
        assert [t["id"] for t in r.structured_content["tickets"]] == [rig.printer_id]
        r = await c.call_tool("search_tickets", {"limit": 1})
        assert len(r.structured_content["tickets"]) == 1 and r.structured_content["truncated"]
        r = await c.call_tool("search_tickets", {"state": "failed"})
        assert r.structured_content["tickets"] == []

        r = await c.call_tool("find_similar", {"text": "printer paper jam"})
        assert r.structured_content["similar"][0]["ticket_id"] == rig.printer_id
        r = await c.call_tool("find_similar", {"ticket_id": rig.mail_id})
        assert rig.mail_id not in {s["ticket_id"] for s in r.structured_content["similar"]}

        r = await c.call_tool("explain_triage", {"ticket_id": rig.printer_id})
        assert not r.is_error
        fields = {d["field"]: d for d in r.structured_content["decisions"]}
        assert (
            fields["category"]["label"] == "Printing" and fields["technician"]["label"] == "alice"
        )

        resource = await c.read_resource(f"ticket://{rig.printer_id}")
        assert rig.printer_id in resource.contents[0].text

        prompt = await c.get_prompt("triage_this_ticket", {"ticket_id": rig.printer_id})
        assert rig.printer_id in prompt.messages[0].content.text

        # Another tenant's ticket does not exist for this caller; nor does an unknown one.
        for ticket_id in (rig.other_id, "tkt_does_not_exist"):
            for tool in ("get_ticket", "explain_triage"):
                r = await c.call_tool(tool, {"ticket_id": ticket_id})
                assert error_code(r) == "NOT_FOUND", (tool, r)
        r = await c.call_tool("find_similar", {"ticket_id": rig.other_id})
        assert error_code(r) == "NOT_FOUND"
        with pytest.raises(Exception):  # noqa: B017 - the SDK raises MCPError for a resource
            await c.read_resource(f"ticket://{rig.other_id}")


async def test_bad_arguments_are_tool_errors(rig: Rig) -> None:
    async with Client(triage.make_server(rig.deps())) as c:
        assert (await c.call_tool("triage_ticket", {})).is_error
        assert (await c.call_tool("find_similar", {})).is_error
        assert (await c.call_tool("get_ticket", {"ticket_id": ""})).is_error
        r = await c.call_tool("triage_ticket", {"payload": {"nonsense": True}})
        assert error_code(r) == "INVALID_ARGUMENT"


async def test_shadow_server_lists_tools_with_schemas_and_annotations(rig: Rig) -> None:
    async with Client(shadow.make_server(rig.deps())) as c:
        tools = (await c.list_tools()).tools
        assert {t.name for t in tools} == SHADOW_TOOLS
        check_tool_contract(tools)
        assert {p.name for p in (await c.list_prompts()).prompts} == {"summarise_my_queue"}


async def test_runbooks_resource_lists_the_tenants_catalogue(rig: Rig) -> None:
    async with Client(shadow.make_server(rig.deps())) as c:
        uris = {str(r.uri) for r in (await c.list_resources()).resources}
        assert "omega://runbooks" in uris
        content = await c.read_resource("omega://runbooks")
    books = {b["name"]: b for b in json.loads(content.contents[0].text)["runbooks"]}
    # The shipped defaults (teams/shadow/runbooks.toml), each with where it applies and its undo.
    assert {"password_reset", "account_unlock", "printer_queue_restart"} <= set(books)
    unlock = books["account_unlock"]
    assert unlock["categories"] and unlock["parameters"] and unlock["undo"]
    assert 0.0 < unlock["threshold"] <= 1.0


async def test_my_queue_and_draft_reply_are_the_technicians(rig: Rig) -> None:
    async with Client(shadow.make_server(rig.deps(technician="alice"))) as c:
        r = await c.call_tool("my_queue", {})
        assert not r.is_error
        assert rig.printer_id in {e["ticket"]["id"] for e in r.structured_content["entries"]}
        r = await c.call_tool("draft_reply", {"ticket_id": rig.printer_id})
        assert not r.is_error, r.content
        assert r.structured_content["proposal_id"]
        assert r.structured_content["summary"].startswith(BEGIN)
        r = await c.call_tool("draft_reply", {"ticket_id": rig.other_id})
        assert error_code(r) == "NOT_FOUND"
    async with Client(shadow.make_server(rig.deps(technician="carol"))) as c:
        r = await c.call_tool("my_queue", {})
        assert rig.printer_id not in {e["ticket"]["id"] for e in r.structured_content["entries"]}


async def test_propose_then_confirm_is_single_use_and_bound_to_the_technician(rig: Rig) -> None:
    await require_ticket_actions(rig)
    alice, carol = rig.deps(technician="alice"), rig.deps(technician="carol")
    async with Client(shadow.make_server(alice)) as a, Client(shadow.make_server(carol)) as b:
        r = await a.call_tool(
            "propose_action", {"ticket_id": rig.printer_id, "action": "confirm_proposal"}
        )
        assert not r.is_error, r.content
        token = r.structured_content["confirmation_token"]
        t = await rig.client.get_ticket(rig.printer_id, tenant="default")
        assert t.state != 6  # proposing changed nothing (6 = RESOLVED)

        r = await b.call_tool("confirm_action", {"confirmation_token": token})
        assert error_code(r) == "PERMISSION_DENIED"  # carol cannot confirm alice's proposal
        r = await a.call_tool("confirm_action", {"confirmation_token": token[:-4] + "AAAA"})
        assert error_code(r) == "PERMISSION_DENIED"  # forged signature
        r = await a.call_tool("confirm_action", {"confirmation_token": "not-a-token-at-all"})
        assert error_code(r) == "INVALID_ARGUMENT"

        r = await a.call_tool("confirm_action", {"confirmation_token": token})
        assert not r.is_error, r.content
        assert r.structured_content["action"] == "confirm_proposal"
        r = await a.call_tool("confirm_action", {"confirmation_token": token})
        assert error_code(r) == "FAILED_PRECONDITION"  # single use

        r = await a.call_tool("propose_action", {"ticket_id": rig.other_id, "action": "resolve"})
        assert error_code(r) == "NOT_FOUND"  # another tenant's ticket


async def test_resolve_and_correct_triage_go_through_ticket_service(rig: Rig) -> None:
    await require_ticket_actions(rig)
    async with Client(shadow.make_server(rig.deps(technician="alice"))) as c:
        r = await c.call_tool("correct_triage", {"ticket_id": rig.mail_id, "category": "Printing"})
        assert not r.is_error, r.content
        assert r.structured_content["category"] == "Printing"
        assert (await c.call_tool("correct_triage", {"ticket_id": rig.mail_id})).is_error
        r = await c.call_tool("correct_triage", {"ticket_id": rig.other_id, "category": "Email"})
        assert error_code(r) == "NOT_FOUND"

        r = await c.call_tool(
            "propose_action", {"ticket_id": rig.mail_id, "action": "resolve", "note": "fixed"}
        )
        r = await c.call_tool(
            "confirm_action", {"confirmation_token": r.structured_content["confirmation_token"]}
        )
        assert not r.is_error, r.content
        assert r.structured_content["state"] == "resolved"


async def test_combined_server_offers_every_tool(rig: Rig) -> None:
    async with Client(make_omega_server(rig.deps())) as c:
        tools = (await c.list_tools()).tools
        assert {t.name for t in tools} == TRIAGE_TOOLS | SHADOW_TOOLS
        check_tool_contract(tools)


async def test_unreachable_omega_is_a_tool_error(rig: Rig) -> None:
    import grpc

    from mcp_servers.deps import McpDeps, fixed_caller

    channel = grpc.aio.insecure_channel("127.0.0.1:1")
    deps = McpDeps(
        channel, "127.0.0.1:1", fixed_caller("default", "alice"), b"k" * 32, timeout_s=1.0
    )
    try:
        async with Client(triage.make_server(deps)) as c:
            r = await c.call_tool("get_ticket", {"ticket_id": "x"})
            assert error_code(r) == "UNAVAILABLE"
            assert "omega up" in r.content[0].text
    finally:
        await channel.close()
