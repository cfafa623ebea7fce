"""Fixtures shared by every test package.

Test data comes from two places. `tests/data/` ships with the repository: everything whose
licence allows it in an AGPL project, each source with its licence and SOURCES.md. Data we
may not redistribute (Elastic's ECS ground truth, Elastic License 2.0) stays in
`../shared/` beside the checkout: tests that read it carry the `needs_shared` marker (given
automatically to any test using `shared_dir` or `ground_truth_dir`) and skip, naming the
missing folder, when it is absent. CI sets EQLWATCH_REQUIRE_SHARED=1 so a missing folder
there is an error, never a silent skip.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TypeVar

import pytest

T = TypeVar("T")
K = TypeVar("K")
V = TypeVar("V")

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = REPO_ROOT / "tests" / "data"
SHARED_DIR = REPO_ROOT.parent / "shared"
GROUND_TRUTH_DIR = SHARED_DIR / "datasets" / "ecs-ground-truth"
REQUIRE_SHARED = "EQLWATCH_REQUIRE_SHARED"
SHARED_FIXTURES = frozenset({"shared_dir", "ground_truth_dir"})


class Brief(list[T]):
    """A fixture's list that prints as its length.

    Hypothesis prints every argument of a falsifying example, fixtures included; the rule
    pack's full repr (~46 kB) made it report a large-repr warning instead of the example.
    """

    def __repr__(self) -> str:
        return f"<{len(self)} items>"


class BriefMap(dict[K, V]):
    """A fixture's mapping that prints as its keys (see `Brief`)."""

    def __repr__(self) -> str:
        return f"<{len(self)} items: {', '.join(map(str, self))}>"


def missing_shared_reason() -> str | None:
    """Why the `needs_shared` tests cannot run here, or None when they can."""
    if GROUND_TRUTH_DIR.is_dir():
        return None
    return (
        f"{GROUND_TRUTH_DIR} is absent: Elastic's ECS ground truth (Elastic License 2.0) "
        "is not shipped with eqlwatch; CI provides it"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test that reads ../shared, and skip them all when it is absent."""
    for item in items:
        if SHARED_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.needs_shared)
    reason = missing_shared_reason()
    if reason is None:
        return
    needing = [item for item in items if item.get_closest_marker("needs_shared")]
    if needing and os.environ.get(REQUIRE_SHARED) == "1":
        raise pytest.UsageError(f"{REQUIRE_SHARED}=1 but {reason}")
    for item in needing:
        # skipif is evaluated before any `skip` mark (e.g. an empty parameter set's), so
        # this reason is the one reported.
        item.add_marker(pytest.mark.skipif(True, reason=reason))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """`tests/data/`: the shipped test data (conformance specs, public captures)."""
    return DATA_DIR


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """`../shared/` beside the checkout, only for data eqlwatch may not ship."""
    return SHARED_DIR


@pytest.fixture(scope="session")
def ground_truth_dir() -> Path:
    """Elastic's raw-Sysmon → ECS pairs in `../shared/` (Elastic License 2.0, not shipped)."""
    return GROUND_TRUTH_DIR


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(autouse=True, scope="session")
def _quiet_logs() -> None:
    """Tests log at WARNING as JSON to stderr; tests that check logs configure their own."""
    from eqlwatch.logs import configure

    configure(json=True, level="WARNING")


@pytest.fixture(autouse=True, scope="session")
def _private_rule_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Tests (and the commands they start) use a cache of parsed rules of their own."""
    os.environ["EQLWATCH_CACHE_DIR"] = str(tmp_path_factory.mktemp("rule-cache"))
