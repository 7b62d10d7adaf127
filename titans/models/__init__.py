"""One module per vendor; each imports its SDK lazily and maps its errors in one function."""
