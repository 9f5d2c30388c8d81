"""The tiny translation lookup both the bot and the workers use: catalogues of {"ru": ..., "en": ...}."""

from __future__ import annotations

from typing import Literal

Language = Literal["ru", "en"]
Catalogue = dict[str, dict[Language, str]]


def translate(catalogue: Catalogue, key: str, language: Language, **values: object) -> str:
    """The sentence ``key`` from ``catalogue`` in ``language`` with ``values`` filled in."""
    return catalogue[key][language].format(**values)


def shorten(text: str, limit: int) -> str:
    """``text`` if it fits in ``limit`` characters, else cut at the last word boundary that fits, with "…"."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    boundary = cut.rstrip().rfind(" ")
    # A single word longer than the limit is cut inside it: better than showing nothing.
    return (cut[:boundary] if boundary > limit // 2 else cut).rstrip(" ,;:.-") + "…"
