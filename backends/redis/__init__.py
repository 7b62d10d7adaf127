"""Redis adapters behind backends.ports."""
