"""The "non-standard folder" regex means what docs/rulepack.md says, for any folder name.

It is spelled out letter by letter (Lucene has no look-ahead), so a property test checks it
against the plain definition: a drive-rooted path whose top folder is not `Windows` and does
not start with `Program Files`, in any letter case.
"""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from tests.rulepack.conftest import PackRule

RAW = re.compile(r'process\.args regex """(?P<rx>[^"]+)"""')
USERS = ("regsvr32_unusual_path", "regsvcs_regasm_suspicious_execution")
NAMED = [
    "Windows", "WINDOWS", "windows2", "Window", "Program Files", "Program Files (x86)",
    "program filesx", "ProgramData", "Progr", "Users", "AtomicRedTeam", "PerfLogs", "w", "p",
]  # fmt: skip
ANY_NAME = st.text(
    alphabet=st.characters(exclude_characters="\\\n\r", codec="ascii"), min_size=1, max_size=16
)
FOLDER = st.one_of(st.sampled_from(NAMED), ANY_NAME)


def _regex(item: PackRule) -> str:
    match = RAW.search(item.rule.query)
    assert match is not None, item.key
    return match["rx"]


def test_both_rules_use_the_same_expression(pack_by_key: dict[str, PackRule]) -> None:
    assert _regex(pack_by_key[USERS[0]]) == _regex(pack_by_key[USERS[1]])


@given(
    drive=st.sampled_from("cCdDzZ"),
    folder=FOLDER,
    rest=st.sampled_from(["", "\\", "\\x.dll", "\\bin\\Debug\\a.ocx"]),
)
def test_matches_exactly_the_non_standard_top_folders(
    drive: str, folder: str, rest: str, pack_by_key: dict[str, PackRule]
) -> None:
    path = f"{drive}:\\{folder}{rest}"
    lowered = folder.lower()
    want = lowered != "windows" and not lowered.startswith("program files")
    got = re.fullmatch(_regex(pack_by_key[USERS[0]]), path) is not None
    assert got is want, path


@given(
    arg=st.sampled_from(["regsvr32.exe", "/s", "/i:C:\\x.sct", "scrobj.dll", "\\\\srv\\x.dll", ""])
)
def test_arguments_that_are_not_drive_paths_never_match(
    arg: str, pack_by_key: dict[str, PackRule]
) -> None:
    assert re.fullmatch(_regex(pack_by_key[USERS[0]]), arg) is None
