"""Cosmos DB adapters behind backends.ports."""
