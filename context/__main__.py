"""Run the Context Server: ``python -m context`` (settings from ``OMEGA_CONTEXT_*``)."""

from __future__ import annotations

import asyncio
import logging

from context.server import serve
from context.settings import ContextSettings


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    asyncio.run(serve(ContextSettings()))


if __name__ == "__main__":
    main()
