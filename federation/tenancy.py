"""The caller's tenant, carried in gRPC metadata and resolved once per request."""

from __future__ import annotations

import contextvars
import re

from federation.errors import InvalidArgument

TENANT_METADATA_KEY = "x-omega-tenant"
TECHNICIAN_METADATA_KEY = "x-omega-technician"
_TENANT_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")

current_tenant: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "omega_tenant", default=None
)


def validate_tenant(tenant: str) -> str:
    """Return the tenant id if well-formed (lower-case slug), else raise InvalidArgument."""
    if not _TENANT_RE.match(tenant):
        raise InvalidArgument(
            "tenant must be 1-63 lower-case letters, digits, '-' or '_'", reason="BAD_TENANT"
        )
    return tenant


def resolve_tenant(explicit: str, default: str) -> str:
    """The tenant of a request: the request field, else metadata, else the default tenant."""
    return validate_tenant(explicit or current_tenant.get() or default)
