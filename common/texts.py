"""Text helpers both the bot and the workers use: ``shorten``, and the lookup of a module's message table.

A message table maps a key to an English message marked with :func:`common.i18n.N_`; :func:`translate`
looks it up in the reader's catalogue. The old form, ``{"key": {"ru": ..., "en": ...}}``, still works so
that a branch written before the catalogues merges cleanly, and `make lint` fails on its Russian until it is
converted (docs/i18n.md, "Converting a Catalogue dict").
"""

from __future__ import annotations

from collections.abc import Mapping

from common.i18n import Language, translator

__all__ = ["Catalogue", "Language", "Messages", "shorten", "translate"]

Messages = Mapping[str, str]  # key -> English msgid, marked N_("...")
Catalogue = Mapping[str, str | Mapping[Language, str]]  # a message table, or a legacy dict not yet converted


def translate(catalogue: Catalogue, key: str, language: Language, **values: object) -> str:
    """The message ``key`` of ``catalogue`` in ``language``, with ``values`` filled in."""
    entry = catalogue[key]
    if isinstance(entry, str):
        return translator(language).gettext(entry, **values)
    return entry[language].format(**values)  # legacy: the lead converts these at merge


def shorten(text: str, limit: int) -> str:
    """``text`` if it fits in ``limit`` characters, else cut at the last word boundary that fits, with "…"."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    boundary = cut.rstrip().rfind(" ")
    # A single word longer than the limit is cut inside it: better than showing nothing.
    return (cut[:boundary] if boundary > limit // 2 else cut).rstrip(" ,;:.-") + "…"
