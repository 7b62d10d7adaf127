"""The blob store contract on a local directory and on Azure Blob Storage (Azurite)."""

from __future__ import annotations

from typing import Any

import pytest

from backends.azure_blob.blobs import new_raw
from federation.errors import AlreadyExists, Unavailable

pytestmark = pytest.mark.timeout(30)


async def test_a_raw_payload_round_trips_with_its_metadata(blobs: Any) -> None:
    raw = new_raw("raw_01", "acme", "autotask", b'{"ticket": 1}\x00\xff', "webhook")
    await blobs.put_raw(raw)
    got = await blobs.get_raw("raw_01")
    assert got is not None
    assert (got.body, got.tenant, got.source, got.received_via, got.sha256) == (
        raw.body, "acme", "autotask", "webhook", raw.sha256
    )
    assert abs(got.received_at - raw.received_at) < 1e-3


async def test_a_missing_payload_is_none(blobs: Any) -> None:
    assert await blobs.get_raw("raw_nope") is None


async def test_writing_the_same_payload_again_is_a_no_op_but_other_bytes_conflict(blobs: Any) -> None:
    raw = new_raw("raw_02", "acme", "autotask", b"one", "webhook")
    await blobs.put_raw(raw)
    await blobs.put_raw(raw)  # a resumed ingest re-puts the same id and bytes
    with pytest.raises(AlreadyExists):
        await blobs.put_raw(new_raw("raw_02", "acme", "autotask", b"two", "webhook"))
    got = await blobs.get_raw("raw_02")
    assert got is not None and got.body == b"one"


async def test_audit_exports_are_create_only(blobs: Any) -> None:
    await blobs.put_audit_export("2026/11/acme.jsonl", b'{"a":1}\n')
    with pytest.raises(AlreadyExists):
        await blobs.put_audit_export("2026/11/acme.jsonl", b"tampered")


async def test_an_unreachable_blob_service_is_unavailable() -> None:
    from backends.azure_blob.blobs import AzureBlobStore

    conn = (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
        "BlobEndpoint=http://127.0.0.1:9/devstoreaccount1;"
    )
    store = AzureBlobStore.connect(raw_container="raw", audit_container="audit", connection_string=conn)
    try:
        with pytest.raises(Unavailable):
            await store.put_raw(new_raw("raw_03", "acme", "autotask", b"x", "webhook"))
    finally:
        await store.aclose()
