"""`testbed instruments scan` and `testbed instruments check BENCH.toml`."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import pyvisa

from instruments.bench import DeviceConfig, load_bench
from instruments.commandlog import CommandLog
from instruments.errors import InstrumentError
from instruments.scpi import ScpiDriver

#: Raw-socket SCPI is not discoverable, so scan probes these loopback ports: the emulator's
#: default block (``testbed emulate`` starts at 5025, the LAN instruments' SCPI port).
SCAN_HOST = "127.0.0.1"
SCAN_PORTS = range(5025, 5041)
SCAN_TIMEOUT_MS = 300
#: The measurement `check` reads from each role.
CHECK_READING = {
    "inverter": "read_active_power",
    "meter": "read_voltage",
    "grid_simulator": "read_voltage",
    "load": "read_active_power",
}


def scan(host: str = SCAN_HOST, ports: Sequence[int] = SCAN_PORTS) -> int:
    """Print each reachable resource with its ``*IDN?``; 0 when at least one answered."""
    rm = pyvisa.ResourceManager("@py")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pyvisa-py's hints about optional discovery packages
        try:
            found = list(rm.list_resources("?*"))
        except pyvisa.errors.VisaIOError:
            found = []
    found += [f"TCPIP0::{host}::{port}::SOCKET" for port in ports]
    answered = 0
    for resource in found:
        idn = _idn(rm, resource)
        if idn is not None:
            answered += 1
            print(f"{resource}  {idn}")
    if not answered:
        print(f"no instruments answered (VISA discovery, {host} ports {min(ports)}-{max(ports)})")
    return 0 if answered else 1


def _idn(rm: pyvisa.ResourceManager, resource: str) -> str | None:
    try:
        inst = rm.open_resource(
            resource,
            read_termination="\n",
            write_termination="\n",
            timeout=SCAN_TIMEOUT_MS,
            open_timeout=SCAN_TIMEOUT_MS,
        )
    except Exception:  # noqa: BLE001 - anything that cannot open is simply not listed
        return None
    try:
        return inst.query("*IDN?").strip()
    except Exception:  # noqa: BLE001 - refused, silent or garbled: not an instrument
        return None
    finally:
        inst.close()


def check(bench_file: Path) -> int:
    """Each device answers, matches its profile and reads; 0 when all pass, else 1."""
    config = load_bench(bench_file)
    rm = pyvisa.ResourceManager(config.visa_library)
    failures = 0
    for device in config.devices:
        try:
            line = _check_device(device, rm)
            print(f"{device.name}  ok  {line}")
        except InstrumentError as exc:
            failures += 1
            print(f"{device.name}  FAIL  {exc}")
    return 1 if failures else 0


def _check_device(device: DeviceConfig, rm: pyvisa.ResourceManager) -> str:
    """Read-only: identity, then one measurement; no setpoint is sent."""
    driver = ScpiDriver(
        device.name, device.resource, device.profile, CommandLog(), rm, device.timeout_ms
    )
    try:
        idn = driver.idn().strip()
        if not device.profile.idn_matches(idn):
            raise InstrumentError(
                f"*IDN? {idn!r} does not match profile {device.profile.name!r} "
                f"({device.profile.idn})"
            )
        op = CHECK_READING[device.role]
        unit = {"read_voltage": "V"}.get(op, "kW")
        value = driver.read(op)
        return f"{idn}  {op} = {value:.4g} {unit}"
    finally:
        driver.close()
