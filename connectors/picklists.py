"""Per-tenant picklists: table names shared by every connector, and how they come from config.

Tenant config (``tenants.toml``) holds ``picklists.<source>.<table>.<id> = "<name>"``, e.g.
``[tenants.acme.picklists.autotask.priority] "1" = "High"``. Table names are the same for every
source (``PICKLIST_TABLES``); a connector only consults a table when the payload carries an id
without a name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connectors.contract import Picklists, Source
from connectors.fields import as_id

PICKLIST_TABLES: tuple[str, ...] = (
    "priority",
    "status",
    "queue",
    "issue_type",
    "sub_issue_type",
    "ticket_type",
    "source",
    "company",
    "contact",
    "assignee",
)
"""The table names connectors look up (documented in docs/connectors.md)."""


def picklists_from_config(
    config: Mapping[str, Mapping[str, Mapping[str, Any]]], source: Source | str
) -> Picklists:
    """The ``Picklists`` of one source out of a tenant's ``picklists`` setting.

    ``config`` is ``TenantConfig.picklists`` ({source: {table: {id: name}}}); ids are compared as
    strings, so TOML keys ``"1"`` match payload values ``1`` and ``"1"``.
    """
    tables = config.get(str(source), {})
    return Picklists(
        tables={
            table: {str(k): str(v) for k, v in entries.items()} for table, entries in tables.items()
        }
    )


def resolve(
    picklists: Picklists, table: str, value: Any, extra: dict[str, Any], *, name: str = ""
) -> str:
    """``name`` when the payload gave one, else the picklist name for ``value``.

    An id that no table resolves is kept in ``extra[f"{table}_id"]`` so nothing is lost; the
    contract field stays "" rather than showing a bare number to the models.
    """
    if name:
        return name
    key = as_id(value)
    resolved = picklists.name(table, key)
    if not resolved and key:
        extra[f"{table}_id"] = key
    return resolved
