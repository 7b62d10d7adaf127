"""The Learn step: resolved tickets become deduplicated, redacted, erasable memories."""

from __future__ import annotations

from connectors.contract import Event, NormalizedTicket, Source
from context.learn import learn_resolved_ticket
from context.service import ContextService


def _ticket(version: str) -> NormalizedTicket:
    return NormalizedTicket(
        source=Source(next(iter(Source))), external_id="4711", version=version,
        event=Event(next(iter(Event))), title="Outlook keeps asking for password",
        description="Maria Lopez (maria.lopez@contoso.com) cannot send mail", queue="Service Desk",
        contact_name="Maria Lopez", contact_email="maria.lopez@contoso.com",
    )


async def test_resolved_ticket_is_learned_once_redacted_and_erasable(service: ContextService) -> None:
    first = await learn_resolved_ticket(service, "acme", _ticket("1"), ticket_id="tkt_1",
                                        resolution="cleared cached credentials", confirmed=True,
                                        category="Email")
    again = await learn_resolved_ticket(service, "acme", _ticket("2"), ticket_id="tkt_1",
                                        resolution="cleared cached credentials", confirmed=True,
                                        category="Email")
    assert again.deduplicated and again.memory.memory_id == first.memory.memory_id
    assert "Maria" not in again.memory.text and "maria.lopez" not in again.memory.text
    hits = await service.recall("acme", text="outlook password prompt", only_confirmed=True,
                                metadata_filter={"category": "Email"}, top_k=3)
    assert [h.memory.resolution for h in hits] == ["cleared cached credentials"]
    assert (await service.forget("acme", subject_id="Maria.Lopez@contoso.com")).memories_deleted == 1
