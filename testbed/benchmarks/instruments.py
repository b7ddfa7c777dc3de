"""Instrument latency over loopback, each transport beside its naive baseline.

SCPI: a setpoint write followed by a measurement query. Ours: the bench stack (safety layer,
profile driver with its SCPI error check, TCP_NODELAY on both ends) against the emulated PV
inverter. Baseline, same run and device model: pyvisa-py's defaults (Nagle on) against the same
server with TCP_NODELAY off, where the query waits for the delayed ACK of the write.

SunSpec (Modbus TCP): a write of the export limit (WMaxLimPct, FC16) then its read-back with its
scale factor (FC03), which is what ``set_active_power`` does behind the safety layer on one
open connection. Baseline: the naive client as pysunspec2's examples use it, a new device
object and scan for each write, then the write and a read of the controls model.
"""

from __future__ import annotations

import itertools

import pyvisa
from sunspec2.modbus.client import SunSpecModbusClientDeviceTCP

from instruments import open_bench
from instruments.emulator import Emulator
from instruments.sunspec.driver import parse_resource
from testbed.benchmarks import BenchResult, median_seconds

DEVICE = "pv1"
SUNSPEC_DEVICE = "pv2"
SUNSPEC_BENCH = {
    "emulator": {"clock": "manual"},
    "device": [{"name": SUNSPEC_DEVICE, "profile": "testbed-sunspec-inverter"}],
}
EXPORT_LIMITS_KW = (1.0, 2.0)  # alternated, so every write changes the register


def run(quick: bool = False) -> BenchResult:
    repeats, naive_repeats = (50, 10) if quick else (500, 40)
    driver_s, naive_s = _scpi(repeats, naive_repeats)
    sunspec_s, naive_sunspec_s = _sunspec(repeats, max(5, naive_repeats // 2))
    return BenchResult(
        benchmark="instruments",
        results={
            "driver_write_query_median_ms": driver_s * 1e3,
            "naive_write_query_median_ms": naive_s * 1e3,
            "sunspec_write_read_median_ms": sunspec_s * 1e3,
            "naive_pysunspec2_scan_write_read_median_ms": naive_sunspec_s * 1e3,
        },
        ratios={
            "driver_vs_naive": naive_s / driver_s,
            "sunspec_vs_naive_pysunspec2": naive_sunspec_s / sunspec_s,
        },
        notes=[
            f"{repeats} (ours) / {naive_repeats} (naive) exchanges per transport on 127.0.0.1",
            "SCPI ours includes the SYST:ERR? check after the write and the safety clamp",
            "SunSpec ours: WMaxLimPct written (FC16) and read back with its scale factor (FC03)",
            "goal: driver and sunspec medians <= 1 ms",
        ],
    )


def _scpi(repeats: int, naive_repeats: int) -> tuple[float, float]:
    with Emulator(clock="manual") as emu:
        config = emu.bench_config({DEVICE: {"ramp_kw_per_s": 1e6}})
        with open_bench(config, handle_signals=False) as bench:
            pv = bench[DEVICE]

            def ours() -> None:
                pv.set_active_power(1.0)
                pv.read_active_power()

            driver_s = median_seconds(ours, repeats, warmup=5)
    with Emulator(clock="manual", nodelay=False) as emu:
        inst = pyvisa.ResourceManager("@py").open_resource(
            emu.resources[DEVICE], read_termination="\n", write_termination="\n"
        )

        def naive() -> None:
            inst.write("SOUR:POW:ACT 1000.0")
            inst.query("MEAS:POW:ACT?")

        naive_s = median_seconds(naive, naive_repeats, warmup=2)
        inst.close()
    return driver_s, naive_s


def _sunspec(repeats: int, naive_repeats: int) -> tuple[float, float]:
    with Emulator(SUNSPEC_BENCH) as emu:
        config = emu.bench_config({SUNSPEC_DEVICE: {"ramp_kw_per_s": 1e6}})
        limits = itertools.cycle(EXPORT_LIMITS_KW)
        with open_bench(config, handle_signals=False) as bench:
            pv = bench[SUNSPEC_DEVICE]
            sunspec_s = median_seconds(lambda: pv.set_active_power(next(limits)), repeats, 5)
        host, port, unit = parse_resource(emu.resources[SUNSPEC_DEVICE])
        percents = itertools.cycle((20.0, 40.0))

        def naive() -> None:
            device = SunSpecModbusClientDeviceTCP(slave_id=unit, ipaddr=host, ipport=port)
            try:
                device.scan()
                controls = device.DERCtlAC[0]
                controls.WMaxLimPctEna.value = 1
                controls.WMaxLimPct.cvalue = next(percents)
                controls.write()
                controls.read()
            finally:
                device.client.close()

        naive_s = median_seconds(naive, naive_repeats, warmup=1)
    return sunspec_s, naive_s
