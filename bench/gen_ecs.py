"""Synthetic ECS endpoint events (Elastic Defend shape) as NDJSON, in timestamp order.

Process starts and ends, network connections, file and registry changes, DNS lookups and
logons on a few hundred hosts; ~400 bytes per event. Some processes open outbound
connections shortly after they start (the benchmark's sequence finds those). Seeded, so
the same arguments always write the same file.

    uv run python bench/gen_ecs.py --events 1000000 --out /tmp/ecs-1m.ndjson
"""

from __future__ import annotations

import argparse
import gzip
import random
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import orjson

PROGRAMS = [
    ("svchost.exe", "C:\\Windows\\System32\\svchost.exe", "-k netsvcs -p"),
    ("powershell.exe", "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe", "-nop"),
    ("cmd.exe", "C:\\Windows\\System32\\cmd.exe", "/c whoami"),
    ("chrome.exe", "C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe", "--type=renderer"),
    ("rundll32.exe", "C:\\Windows\\System32\\rundll32.exe", "shell32.dll,Control_RunDLL"),
    ("regsvr32.exe", "C:\\Windows\\System32\\regsvr32.exe", "/s /n /u /i:x scrobj.dll"),
    ("outlook.exe", "C:\\Program Files\\Microsoft Office\\root\\Office16\\OUTLOOK.EXE", ""),
    ("python3", "/usr/bin/python3", "-m http.server"),
]
START_NS = int(datetime(2025, 6, 1, tzinfo=UTC).timestamp()) * 1_000_000_000


def _ip(rng: random.Random) -> str:
    pick = rng.random()
    if pick < 0.5:
        return f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    if pick < 0.6:
        return f"192.168.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    return (
        f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    )


def _iso(ns: int) -> str:
    dt = datetime.fromtimestamp(ns // 1_000_000_000, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + f".{ns // 1_000_000 % 1000:03d}Z"


class Generator:
    """Keeps a few live processes per host so events refer to each other."""

    def __init__(self, seed: int, hosts: int) -> None:
        self.rng = random.Random(seed)
        self.hosts: list[dict[str, Any]] = [
            {
                "id": f"h-{i:05d}",
                "name": f"ws-{i:05d}",
                "os": {"type": "windows"},
                "ip": _ip(self.rng),
            }
            for i in range(hosts)
        ]
        self.live: dict[str, list[dict[str, Any]]] = {h["id"]: [] for h in self.hosts}
        self.serial = 0

    def _process(self, host: dict[str, Any]) -> dict[str, Any]:
        name, exe, args = self.rng.choice(PROGRAMS)
        self.serial += 1
        parent = self.rng.choice(self.live[host["id"]]) if self.live[host["id"]] else None
        return {
            "pid": self.rng.randint(100, 65000),
            "entity_id": f"{host['id']}-{self.serial}",
            "name": name,
            "executable": exe,
            "command_line": f'"{exe}" {args}'.strip(),
            "parent": {"name": parent["name"], "pid": parent["pid"]} if parent else {},
        }

    def event(self, ts: int) -> dict[str, Any]:
        rng = self.rng
        host = rng.choice(self.hosts)
        procs = self.live[host["id"]]
        base: dict[str, Any] = {
            "@timestamp": _iso(ts),
            "agent": {"type": "endpoint"},
            "host": host,
            "user": {"name": f"user{rng.randint(0, 300)}", "domain": "CORP"},
            "event": {"kind": "event", "module": "endpoint"},
        }
        roll = rng.random()
        if roll < 0.25 or not procs:
            proc = self._process(host)
            procs.append(proc)
            if len(procs) > 8:
                procs.pop(0)
            base["event"] |= {"category": ["process"], "type": ["start"], "action": "start"}
            base["process"] = proc
        elif roll < 0.55:
            proc = rng.choice(procs)
            dst = _ip(rng)
            base["event"] |= {
                "category": ["network"],
                "type": ["connection"],
                "action": "connection_attempted",
            }
            base["process"] = {
                "pid": proc["pid"],
                "entity_id": proc["entity_id"],
                "name": proc["name"],
            }
            base["source"] = {"ip": host["ip"], "port": rng.randint(49152, 65535)}
            base["destination"] = {"ip": dst, "port": rng.choice([80, 443, 445, 3389, 8080])}
        elif roll < 0.75:
            proc = rng.choice(procs)
            base["event"] |= {"category": ["file"], "type": ["creation"], "action": "creation"}
            base["process"] = {
                "pid": proc["pid"],
                "entity_id": proc["entity_id"],
                "name": proc["name"],
            }
            base["file"] = {
                "path": f"C:\\Users\\u\\AppData\\Local\\Temp\\{rng.randint(0, 9999)}.tmp"
            }
        elif roll < 0.85:
            proc = rng.choice(procs)
            base["event"] |= {
                "category": ["registry"],
                "type": ["change"],
                "action": "modification",
            }
            base["process"] = {
                "pid": proc["pid"],
                "entity_id": proc["entity_id"],
                "name": proc["name"],
            }
            base["registry"] = {
                "path": "HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Run\\x"
            }
        elif roll < 0.95:
            proc = rng.choice(procs)
            base["event"] |= {
                "category": ["network"],
                "type": ["protocol"],
                "action": "lookup_requested",
            }
            base["process"] = {
                "pid": proc["pid"],
                "entity_id": proc["entity_id"],
                "name": proc["name"],
            }
            base["dns"] = {"question": {"name": f"host{rng.randint(0, 5000)}.example.com"}}
        else:
            proc = procs.pop(rng.randrange(len(procs)))
            base["event"] |= {"category": ["process"], "type": ["end"], "action": "end"}
            base["process"] = {
                "pid": proc["pid"],
                "entity_id": proc["entity_id"],
                "name": proc["name"],
            }
        return base


def generate(count: int, seed: int = 7, hosts: int = 300) -> Iterator[dict[str, Any]]:
    """`count` events, ~4 ms apart on average, in timestamp order."""
    gen = Generator(seed, hosts)
    ts = START_NS
    for _ in range(count):
        ts += gen.rng.randint(0, 8) * 1_000_000
        yield gen.event(ts)


def write(path: Path, count: int, seed: int) -> None:
    opener: Any = gzip.open if path.suffix == ".gz" else open
    out: IO[bytes]
    with opener(path, "wb") as out:
        for doc in generate(count, seed):
            out.write(orjson.dumps(doc) + b"\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    write(args.out, args.events, args.seed)


if __name__ == "__main__":
    main()
