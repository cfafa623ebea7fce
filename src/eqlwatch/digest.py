"""Who, where and what a hit is about, read from its events once for the note and the alert.

The note wants the first host, user and OS named in the events; the alert document wants the
distinct users, hosts and hashes (`related.*`), the first host/user/process/network objects
and the event categories. Asking `HitFacts` field by field costs a call per field per event;
for plain events (nested dicts only, see `hitfacts`) one loop over the events reads them
all. Other events go field by field through `get_field`, which defines the answers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from eqlwatch.rules.fields import has_dotted_key

if TYPE_CHECKING:
    from eqlwatch.hitfacts import HitFacts

OBJECTS = ("host", "user", "process", "source", "destination", "network")
HASHED = ("process", "dll", "file")
_ALGOS = ("md5", "sha1", "sha256")
_SCALARS = (str, int, float)
# What "first non-empty value" skips.
EMPTY: tuple[Any, ...] = (None, "", [])


@dataclass(slots=True)
class Digest:
    """What the note and the alert read from a hit's events (first non-empty, or distinct).

    Read-only by convention (one is built per alert; a frozen dataclass costs more to make).
    """

    host_name: Any  # first `host.name`
    host_hostname: Any  # first `host.hostname`
    host_os: Any  # first `host.os.type`
    user_name: Any  # first `user.name`
    user_domain: Any  # first `user.domain`
    users: list[Any]  # distinct `user.name`, then distinct `user.target.name`
    hosts: list[Any]  # distinct `host.name`
    hashes: list[Any]  # distinct md5/sha1/sha256 of process, dll, file (in that order)
    objects: dict[str, Mapping[str, Any]]  # first non-empty object of each of OBJECTS (any order)
    categories: list[str]  # distinct `event.category` strings, in event order


def digest_of(facts: HitFacts) -> Digest:
    """The hit's digest; plain hits in one pass, others through `get_field`."""
    return _plain(facts.raws) if facts.all_plain else _general(facts)


def _add(seen: dict[Any, None], value: Any) -> None:
    """Record a keyword-like value (or each of a list's) for `related.*`."""
    if type(value) in _SCALARS:
        if value != "":
            seen[value] = None
    elif type(value) is list:
        seen.update((v, None) for v in value if type(v) in _SCALARS and v != "")


def _add_hashes(seen: dict[Any, None], tree: Any) -> None:
    """Record the md5/sha1/sha256 of a `*.hash` object (a malformed one adds nothing)."""
    if type(tree) is dict or (tree is not None and isinstance(tree, Mapping)):
        for algo, value in tree.items():
            if algo in _ALGOS:
                _add(seen, value)


def _add_categories(seen: dict[str, None], category: Any) -> None:
    if isinstance(category, str):
        seen[category] = None
    elif isinstance(category, list):
        seen.update((item, None) for item in category if isinstance(item, str))


def _general(facts: HitFacts) -> Digest:
    users: dict[Any, None] = {}
    for path in ("user.name", "user.target.name"):
        for value in facts.values(path):
            _add(users, value)
    hosts: dict[Any, None] = {}
    for value in facts.values("host.name"):
        _add(hosts, value)
    hashes: dict[Any, None] = {}
    for name in HASHED:
        for tree in facts.values(f"{name}.hash"):
            _add_hashes(hashes, tree)
    categories: dict[str, None] = {}
    for category in facts.values("event.category"):
        _add_categories(categories, category)
    objects: dict[str, Mapping[str, Any]] = {}
    for name in OBJECTS:
        for raw in facts.raws:
            tree = _subtree(raw, name)
            if tree:
                objects[name] = tree
                break
    return Digest(
        host_name=facts.first("host.name"),
        host_hostname=facts.first("host.hostname"),
        host_os=facts.first("host.os.type"),
        user_name=facts.first("user.name"),
        user_domain=facts.first("user.domain"),
        users=list(users),
        hosts=list(hosts),
        hashes=list(hashes),
        objects=objects,
        categories=list(categories),
    )


def _subtree(source: Mapping[str, Any], name: str) -> Any:
    """`source[name]` whether nested or spelt with flat dotted keys."""
    value = source.get(name)
    if isinstance(value, Mapping):
        return value
    if not has_dotted_key(source):
        return None
    prefix = name + "."
    flat = {k[len(prefix) :]: v for k, v in source.items() if k.startswith(prefix)}
    return flat or None


def _plain(raws: Iterable[Mapping[str, Any]]) -> Digest:
    """`_general` for events made of nested dicts only: each object is read once.

    Written out flat (strings, the usual values, handled inline) because it runs for every
    alert; `tests/test_digest.py` holds it equal to `_general`.
    """
    # Any, not the str a first reading would suggest: values are whatever the events hold.
    host_name: Any = None
    host_hostname: Any = None
    host_os: Any = None
    user_name: Any = None
    user_domain: Any = None
    names: dict[Any, None] = {}
    targets: dict[Any, None] = {}
    hosts: dict[Any, None] = {}
    hashed: tuple[dict[Any, None], ...] = ({}, {}, {})
    objects: dict[str, Mapping[str, Any]] = {}
    categories: dict[str, None] = {}
    for raw in raws:
        get = raw.get
        host, user, process = get("host"), get("user"), get("process")
        if type(host) is dict and host:
            if "host" not in objects:
                objects["host"] = host
            value = host.get("name")
            if type(value) is str:
                if value:
                    hosts[value] = None
                    host_name = value if host_name is None else host_name
            elif value is not None:
                _add(hosts, value)
                if host_name is None and value not in EMPTY:
                    host_name = value
            if host_hostname is None:
                value = host.get("hostname")
                host_hostname = None if value in EMPTY else value
            if host_os is None:
                os = host.get("os")
                value = os.get("type") if type(os) is dict else None
                host_os = None if value in EMPTY else value
        if type(user) is dict and user:
            if "user" not in objects:
                objects["user"] = user
            value = user.get("name")
            if type(value) is str:
                if value:
                    names[value] = None
                    user_name = value if user_name is None else user_name
            elif value is not None:
                _add(names, value)
                if user_name is None and value not in EMPTY:
                    user_name = value
            if user_domain is None:
                value = user.get("domain")
                user_domain = None if value in EMPTY else value
            target = user.get("target")
            if type(target) is dict:
                _add(targets, target.get("name"))
        if type(process) is dict and process:
            if "process" not in objects:
                objects["process"] = process
            if "hash" in process:
                _add_hashes(hashed[0], process["hash"])
        for name in ("source", "destination", "network"):
            if name not in objects:
                tree = get(name)
                if tree and type(tree) is dict:
                    objects[name] = tree
        for name, seen in (("dll", hashed[1]), ("file", hashed[2])):
            tree = get(name)
            if type(tree) is dict and "hash" in tree:
                _add_hashes(seen, tree["hash"])
        event = get("event")
        if type(event) is dict:
            category = event.get("category")
            if type(category) is list:
                for item in category:
                    if isinstance(item, str):
                        categories[item] = None
            elif category is not None:
                _add_categories(categories, category)
    names.update(targets)
    return Digest(
        host_name=host_name,
        host_hostname=host_hostname,
        host_os=host_os,
        user_name=user_name,
        user_domain=user_domain,
        users=list(names),
        hosts=list(hosts),
        hashes=list({**hashed[0], **hashed[1], **hashed[2]}),
        objects=objects,
        categories=list(categories),
    )
