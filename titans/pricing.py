"""The cost model: USD per 1M input and output tokens, per model, with overridable defaults.

The defaults are APPROXIMATE list prices (standard tier, no caching or batch discounts) as known
when this was written; vendors change them. Override them in configuration
(``OMEGA_TITANS_PRICES='{"gpt-4o-mini": {"input_per_1m": 0.15, "output_per_1m": 0.6}}'``).
A model not in the table costs ``UNKNOWN_MODEL_PRICE``, deliberately high so that budgets stay
safe until someone sets the real price; self-hosted models should be priced at 0 explicitly.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field

from titans.base import Usage


class Price(BaseModel):
    """USD per one million tokens."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    input_per_1m: float = Field(ge=0)
    output_per_1m: float = Field(ge=0)

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        return (input_tokens * self.input_per_1m + output_tokens * self.output_per_1m) / 1_000_000


def _p(i: float, o: float) -> Price:
    return Price(input_per_1m=i, output_per_1m=o)


DEFAULT_PRICES: dict[str, Price] = {
    "gpt-4o-mini": _p(0.15, 0.60),
    "gpt-4o": _p(2.50, 10.00),
    "gpt-4.1-nano": _p(0.10, 0.40),
    "gpt-4.1-mini": _p(0.40, 1.60),
    "gpt-4.1": _p(2.00, 8.00),
    "gpt-5-mini": _p(0.25, 2.00),
    "gpt-5": _p(1.25, 10.00),
    "claude-haiku-4-5": _p(1.00, 5.00),
    "claude-3-5-haiku": _p(0.80, 4.00),
    "claude-sonnet-4": _p(3.00, 15.00),
    "claude-opus-4": _p(15.00, 75.00),
    "gemini-2.0-flash": _p(0.10, 0.40),
    "gemini-2.5-flash-lite": _p(0.10, 0.40),
    "gemini-2.5-flash": _p(0.30, 2.50),
    "gemini-2.5-pro": _p(1.25, 10.00),
    "grok-3-mini": _p(0.30, 0.50),
    "grok-3": _p(3.00, 15.00),
    "grok-4": _p(3.00, 15.00),
    "local": _p(0.0, 0.0),
}
UNKNOWN_MODEL_PRICE = _p(15.00, 75.00)


class PriceTable:
    """Looks a model's price up: exact name, else the longest configured prefix, else unknown."""

    def __init__(
        self, overrides: Mapping[str, Price] | None = None, *, unknown: Price = UNKNOWN_MODEL_PRICE
    ) -> None:
        self._prices = {**DEFAULT_PRICES, **(overrides or {})}
        self._unknown = unknown

    def price(self, model_name: str) -> Price:
        if model_name in self._prices:
            return self._prices[model_name]
        prefixes = [name for name in self._prices if model_name.startswith(name)]
        if prefixes:
            return self._prices[max(prefixes, key=len)]
        return self._unknown

    def cost(self, model_name: str, usage: Usage) -> float:
        return self.price(model_name).cost(usage.input_tokens, usage.output_tokens)

    def max_cost(self, model_name: str, prompt_tokens: int, max_tokens: int) -> float:
        """The most a call can cost: its (over-)estimated prompt plus every allowed output token."""
        return self.price(model_name).cost(prompt_tokens, max_tokens)
