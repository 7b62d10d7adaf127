"""``make_server(deps)``: the technician's shadow agent as MCP tools, resources and prompts.

Changes take two steps: ``propose_action`` (read-only, returns a single-use token) then
``confirm_action`` (applies it through OMEGA's TicketService, as the token's technician).
"""

from __future__ import annotations

from typing import Annotated

import grpc
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations
from omega.tickets.v1 import ticket_pb2
from pydantic import Field

from mcp_servers import views
from mcp_servers.common import READ_ONLY, TicketId
from mcp_servers.deps import McpDeps, OmegaToolError, omega_errors
from mcp_servers.shadow import views as sv
from mcp_servers.shadow.confirm import ConfirmationTokens, PendingAction
from mcp_servers.untrusted import NOTE, untrusted
from sdk.client import OmegaClient

NAME = "io.omega/shadow"
VERSION = "0.1.0"
INSTRUCTIONS = (
    "OMEGA's shadow agent for the signed-in technician: their queue, reply drafts, and changes "
    "that take two steps (propose_action, then confirm_action with the token, only after the "
    "technician agreed). " + NOTE
)
QUEUE_SCAN = 500

CONFIRM = ToolAnnotations(
    read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=True
)
CORRECT = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=False
)


async def apply_action(client: OmegaClient, pending: PendingAction) -> sv.ActionResult:
    """Run a confirmed action through OMEGA's TicketService as the token's technician."""
    p = pending.params
    action: sv.ActionName = pending.action  # type: ignore[assignment]
    if action == "resolve":
        t = await client.resolve_ticket(pending.ticket_id, resolution=p.get("note", ""))
        state, detail = views.STATE_NAMES.get(t.state, "unspecified"), "ticket resolved"
    elif action == "confirm_proposal":
        proposal = await client.confirm_proposal(p["proposal_id"], p.get("backend_token", ""))
        summary = sv.proposal_summary(proposal)
        state, detail = summary.state, proposal.execution_summary or proposal.error
    else:
        proposal = await client.reject_proposal(p["proposal_id"], reason=p.get("note", ""))
        state, detail = sv.proposal_summary(proposal).state, "proposal rejected"
    return sv.ActionResult(ticket_id=pending.ticket_id, action=action, state=state, detail=detail)


def register_shadow(server: MCPServer, deps: McpDeps) -> None:
    """Add the shadow tools and prompts to ``server``."""
    confirmations = ConfirmationTokens(deps.signing_key, ttl_s=deps.confirm_ttl_s)

    @server.tool(annotations=READ_ONLY, title="My queue")
    async def my_queue(
        limit: Annotated[int, Field(ge=1, le=100, description="The most tickets to return.")] = 20,
    ) -> sv.Queue:
        """Your open tickets, most urgent first (priority, then SLA risk), with what your shadow
        agent proposes for each."""
        caller = deps.caller()
        async with omega_errors(deps.target):
            items = await deps.client().list_my_queue(page_size=limit)
        return sv.Queue(technician=caller.technician, entries=[sv.queue_entry(i) for i in items])

    @server.tool(annotations=READ_ONLY, title="Draft a reply")
    async def draft_reply(ticket_id: TicketId) -> sv.DraftReply:
        """The reply draft, summary and next step your shadow agent prepared for a ticket.
        Read-only: sends nothing."""
        async with omega_errors(deps.target):
            resp = await deps.client().get_suggestions(ticket_id)
        if not resp.HasField("proposal"):
            raise OmegaToolError(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"the shadow agent has prepared nothing for ticket {ticket_id!r} yet",
            )
        return sv.draft_reply(resp)

    @server.tool(annotations=READ_ONLY, title="Propose a change (step 1 of 2)")
    async def propose_action(
        ticket_id: TicketId,
        action: Annotated[
            sv.ActionName,
            Field(
                description="resolve the ticket, or confirm/reject the shadow agent's proposal "
                "for it."
            ),
        ],
        note: Annotated[
            str,
            Field(
                description="The resolution note, or why the proposal is rejected.", max_length=4000
            ),
        ] = "",
    ) -> sv.ProposedAction:
        """Prepare a change and return a confirmation token. Nothing changes until
        confirm_action is called with the token, after the technician agreed."""
        params = {"note": note}
        async with omega_errors(deps.target):
            client = deps.client()
            if action == "resolve":
                t = await client.get_ticket(ticket_id)  # NOT_FOUND for another tenant's ticket
            else:
                resp = await client.get_suggestions(ticket_id)
                t, proposal = resp.ticket, resp.proposal
                if (
                    not resp.HasField("proposal")
                    or proposal.state != ticket_pb2.PROPOSAL_STATE_PROPOSED
                ):
                    raise OmegaToolError(
                        grpc.StatusCode.FAILED_PRECONDITION,
                        f"ticket {ticket_id!r} has no proposal awaiting a decision",
                    )
                params["proposal_id"] = proposal.id
                if action == "confirm_proposal":
                    if not resp.confirmation_token:
                        raise OmegaToolError(
                            grpc.StatusCode.PERMISSION_DENIED,
                            "this proposal does not await you (it belongs to another technician)",
                        )
                    params["backend_token"] = resp.confirmation_token
        token, pending = confirmations.issue(deps.caller(), t.id, action, params)
        return sv.ProposedAction(
            confirmation_token=token,
            expires_at=pending.expires_at,
            ticket_id=t.id,
            action=action,
            summary=sv.describe_action(action, t.id, params),
            ticket_title=untrusted(t.title),
        )

    @server.tool(annotations=CONFIRM, title="Confirm a proposed change (step 2 of 2)")
    async def confirm_action(
        confirmation_token: Annotated[
            str,
            Field(description="The token propose_action returned.", min_length=10, max_length=8000),
        ],
    ) -> sv.ActionResult:
        """Apply a change prepared by propose_action. Single use; only for the technician it
        was issued to; expires."""
        pending = confirmations.redeem(deps.caller(), confirmation_token)
        try:
            async with omega_errors(deps.target):
                return await apply_action(deps.client(), pending)
        except OmegaToolError as err:
            if err.code is grpc.StatusCode.UNAVAILABLE:
                confirmations.release(pending)  # nothing happened: the token stays usable
            raise

    @server.tool(annotations=CORRECT, title="Correct a ticket's triage")
    async def correct_triage(
        ticket_id: TicketId,
        category: Annotated[str, Field(description="The right category.", max_length=200)] = "",
        priority: Annotated[str, Field(description="The right priority.", max_length=200)] = "",
        queue: Annotated[str, Field(description="The right queue.", max_length=200)] = "",
    ) -> sv.TriageCorrection:
        """Record the right category, priority and/or queue of a ticket; OMEGA learns from it."""
        if not (category or priority or queue):
            raise ToolError("INVALID_ARGUMENT: give a category, a priority or a queue")
        async with omega_errors(deps.target):
            t = await deps.client().correct_triage(
                ticket_id, category=category, priority=priority, queue=queue
            )
        return sv.TriageCorrection(
            ticket_id=t.id,
            category=t.triage.category.label,
            priority=t.triage.priority.label,
            state=views.STATE_NAMES.get(t.state, "unspecified"),
        )

    @server.resource(
        "omega://runbooks",
        name="runbooks",
        title="Your tenant's runbooks",
        description=(
            "The automations the shadow agent may propose: where each applies, the parameters it "
            "needs, whether policy may let it run unattended, its confidence threshold, its dry "
            "run and its undo (JSON)."
        ),
        mime_type="application/json",
    )
    async def runbooks_resource() -> str:
        async with omega_errors(deps.target):
            items = await deps.client().list_runbooks()
        return views.runbooks(items).model_dump_json()

    @server.prompt(name="summarise_my_queue", title="Summarise my queue")
    def summarise_my_queue() -> str:
        """Ask the assistant to summarise the technician's queue and what needs them first."""
        return (
            "Call my_queue. Summarise my open tickets: first the proposals awaiting my "
            "confirmation, then the rest by urgency. For each, one line with id, priority, SLA "
            "risk and what it is about. Change nothing; if I ask for a change, use propose_action, "
            "show me its summary, and call confirm_action only after I agree. " + NOTE
        )


def make_server(deps: McpDeps) -> MCPServer:
    """The shadow MCP server over OMEGA's gRPC services."""
    server = deps.new_server(NAME, VERSION, INSTRUCTIONS)
    register_shadow(server, deps)
    return server
