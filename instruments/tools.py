"""`testbed instruments scan` and `testbed instruments check BENCH.toml`."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import pyvisa

from instruments.bench import DeviceConfig, check_identity, connect, load_bench
from instruments.commandlog import CommandLog
from instruments.errors import InstrumentError, ProfileMismatch
from instruments.profiles import load_profile
from instruments.sunspec.driver import SunSpecDriver

#: Raw-socket SCPI and Modbus TCP are not discoverable, so scan probes these loopback ports by
#: default: the emulator's block (``testbed emulate`` starts at 5025, the LAN instruments' SCPI
#: port) and Modbus TCP's 502.
SCAN_HOST = "127.0.0.1"
SCAN_PORTS = (*range(5025, 5041), 502)
SCAN_TIMEOUT_MS = 300
#: The measurement `check` reads from each role.
CHECK_READING = {
    "inverter": "read_active_power",
    "meter": "read_voltage",
    "grid_simulator": "read_voltage",
    "load": "read_active_power",
}
#: `check` exit codes: a device failing (unreachable, refusing) is 1; a device that answers but
#: not as its profile says is a mistake in the bench file, 2 like every other input error.
FAILED, WRONG_PROFILE = 1, 2


def scan(hosts: Sequence[str] = (SCAN_HOST,), ports: Sequence[int] = SCAN_PORTS) -> int:
    """Print each reachable resource with its identity (SCPI ``*IDN?``, or a SunSpec device's
    model 1 and model list); 0 when at least one answered."""
    rm = pyvisa.ResourceManager("@py")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pyvisa-py's hints about optional discovery packages
        try:
            found = [(r, _idn(rm, r)) for r in rm.list_resources("?*")]
        except pyvisa.errors.VisaIOError:
            found = []
    for host in hosts:
        for port in ports:
            resource = f"TCPIP0::{host}::{port}::SOCKET"
            idn = _idn(rm, resource)
            if idn is None:
                resource = f"modbus-tcp://{host}:{port}/1"
                idn = _sunspec(resource)
            found.append((resource, idn))
    answered = [(r, idn) for r, idn in found if idn is not None]
    for resource, idn in answered:
        print(f"{resource}  {idn}")
    if not answered:
        print(f"no instruments answered (VISA discovery, {', '.join(hosts)} ports "
              f"{', '.join(map(str, ports))})")
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


def _sunspec(resource: str) -> str | None:
    """A SunSpec device's identity and models, or None when nothing SunSpec answers."""
    for profile in ("sunspec-inverter", "sunspec-meter"):
        try:
            driver = SunSpecDriver("scan", resource, load_profile(profile), CommandLog(),
                                   SCAN_TIMEOUT_MS)
        except InstrumentError:
            continue
        try:
            ids = ",".join(map(str, driver.model_ids()))
            return f"{driver.idn()}  SunSpec models {ids}"
        except InstrumentError:
            return None
        finally:
            driver.close()
    return None


def check(bench_file: Path) -> int:
    """Each device answers, matches its profile and reads: 0 when all pass, 1 when a device
    fails, 2 when one answers but not as its profile says."""
    config = load_bench(bench_file)
    rm = pyvisa.ResourceManager(config.visa_library)
    code = 0
    for device in config.devices:
        try:
            line = _check_device(device, rm)
            print(f"{device.name}  ok  {line}")
        except ProfileMismatch as exc:
            code = max(code, WRONG_PROFILE)
            print(f"{device.name}  WRONG PROFILE  {exc}")
        except InstrumentError as exc:
            code = max(code, FAILED)
            print(f"{device.name}  FAIL  {exc}")
    return code


def _check_device(device: DeviceConfig, rm: pyvisa.ResourceManager) -> str:
    """Read-only: identity, models and limits (SunSpec), then one measurement; no setpoint."""
    driver = connect(device, CommandLog(), rm)
    try:
        idn = driver.idn().strip()
        check_identity(device, idn)
        parts = [idn]
        if isinstance(driver, SunSpecDriver):
            parts.append(f"models {','.join(map(str, driver.model_ids()))}")
            if driver.supports("set_active_power"):
                lo, hi = driver.device_range("set_active_power")
                parts.append(f"export limit {lo:g}..{hi:g} kW")
        op = CHECK_READING[device.role]
        unit = {"read_voltage": "V"}.get(op, "kW")
        parts.append(f"{op} = {float(driver.read(op)):.4g} {unit}")
        return "  ".join(parts)
    finally:
        driver.close()
