"""Azure Blob Storage adapters behind backends.ports."""
