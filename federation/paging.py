"""Opaque page tokens over (created_at, id) keyset pagination."""

from __future__ import annotations

import base64
import json

from federation.errors import InvalidArgument

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


def page_size(requested: int) -> int:
    if requested < 0:
        raise InvalidArgument("page_size must not be negative", reason="BAD_PAGE_SIZE")
    return min(requested or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def encode(created_at: float, item_id: str) -> str:
    raw = json.dumps([created_at, item_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(token: str) -> tuple[float, str] | None:
    if not token:
        return None
    try:
        padded = token + "=" * (-len(token) % 4)
        created_at, item_id = json.loads(base64.urlsafe_b64decode(padded))
        return float(created_at), str(item_id)
    except (ValueError, TypeError) as exc:
        raise InvalidArgument("page_token is not valid", reason="BAD_PAGE_TOKEN") from exc
