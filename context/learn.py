"""The Learn step's entry point: a resolved ticket becomes a (deduplicated) memory."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from connectors.contract import NormalizedTicket
from context.models import MemoryKind
from context.service import ContextService, RememberResult


async def learn_resolved_ticket(
    service: ContextService,
    tenant: str,
    ticket: NormalizedTicket,
    *,
    ticket_id: str,
    resolution: str,
    confirmed: bool,
    category: str = "",
    embedding: Sequence[float] | np.ndarray | None = None,
) -> RememberResult:
    """Remember a resolved ticket and how it was fixed; the same ticket id updates, never duplicates.

    ``confirmed`` must come from a technician's action (a confirmed proposal or resolution).
    The requester's e-mail becomes a subject (for erasure) and their name is redacted.
    """
    metadata = {
        k: v
        for k, v in {
            "category": category or ticket.category,
            "queue": ticket.queue,
            "priority": ticket.priority,
            "source": str(ticket.source),
        }.items()
        if v
    }
    return await service.remember(
        tenant,
        MemoryKind.RESOLVED_TICKET,
        ticket.text or ticket.title,
        resolution=resolution,
        metadata=metadata,
        source_ticket_id=ticket_id,
        confirmed=confirmed,
        subject_ids=[ticket.contact_email] if ticket.contact_email else [],
        redact_names=[ticket.contact_name] if ticket.contact_name else [],
        embedding=embedding,
    )
