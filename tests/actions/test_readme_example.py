"""The README's production job, with its Slack action, is a valid job as printed, and its
secret is only a reference to the environment."""

from __future__ import annotations

import re
from pathlib import Path

from eqlwatch.actions.secrets import display_target, expand, referenced
from eqlwatch.jobs import ElasticsearchState, parse_job


def test_the_readme_job_example_loads_with_one_action(repo_root: Path) -> None:
    readme = (repo_root / "README.md").read_text()
    (block,) = [b for b in re.findall(r"```toml\n(.*?)```", readme, re.S) if "[[job.actions]]" in b]
    job, errors = parse_job(block, file="README.md", root=repo_root)
    assert job is not None, errors
    (action,) = job.actions
    assert action.kind == "apprise"
    assert referenced(action.url) == ["SLACK_WEBHOOK_URL"]
    assert display_target(action.url) == "${SLACK_WEBHOOK_URL}"  # nothing secret to show
    url = "https://hooks.slack.com/services/T000/B000/XXXX"
    assert expand(action.url, {"SLACK_WEBHOOK_URL": url}, what="readme") == url
    assert isinstance(job.state, ElasticsearchState)  # the outbox lives in the state index
