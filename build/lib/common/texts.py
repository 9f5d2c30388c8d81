"""The tiny translation lookup both the bot and the workers use: catalogues of {"ru": ..., "en": ...}."""

from __future__ import annotations

from typing import Literal

Language = Literal["ru", "en"]
Catalogue = dict[str, dict[Language, str]]


def translate(catalogue: Catalogue, key: str, language: Language, **values: object) -> str:
    """The sentence ``key`` from ``catalogue`` in ``language`` with ``values`` filled in."""
    return catalogue[key][language].format(**values)
