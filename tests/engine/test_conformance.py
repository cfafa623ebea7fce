"""Every query of Elasticsearch's EQL QA specs, through the embedded engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from eqlwatch.engine import compile_query
from tests.conftest import DATA_DIR
from tests.engine.conformance import (
    SUITES,
    Case,
    event_ids,
    join_key_texts,
    load_cases,
    load_suite,
)

CONFORMANCE = DATA_DIR / "conformance"
CASES = load_cases(CONFORMANCE)


def test_all_specs_are_collected(data_dir: Path) -> None:
    assert len(load_cases(data_dir / "conformance")) == 289


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_conformance(case: Case, data_dir: Path) -> None:
    suite = SUITES[case.spec]
    events, schema = load_suite(data_dir / "conformance" / "data", suite)
    query = compile_query(
        case.query,
        schema=schema,
        tiebreaker_field=suite.tiebreaker,
        size=case.size,
        max_samples_per_key=case.max_samples_per_key,
    )
    hits = query.run(events)
    assert event_ids(hits, suite.id_field) in case.expected
    if case.join_keys:
        assert join_key_texts(hits) == case.join_keys
