"""Pick the storage adapters from settings (OMEGA_BUS, OMEGA_DOCUMENTS, …).

The embedded default is one SQLite database in the data directory; production adapters
(Redis Streams, Service Bus, Cosmos DB, Blob Storage) plug in here behind the same ports.
"""

from __future__ import annotations

from backends.sqlite.adapters import EmbeddedStore
from mesh.settings import OmegaSettings


def open_store(settings: OmegaSettings) -> EmbeddedStore:
    """The store the mesh runs on: ``bus``, ``journal``, ``tickets``, ``dead_letters``,
    ``timeline`` and ``features`` ports, plus ``close()``."""
    return EmbeddedStore.open(settings.data_dir / "omega.db")
