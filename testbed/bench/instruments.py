"""Instrument latency: a setpoint write followed by a measurement query over loopback.

Ours: the bench stack (safety layer, profile driver with its SCPI error check, TCP_NODELAY on
both ends) against the emulated PV inverter. Baseline, same run and device model: pyvisa-py's
defaults (Nagle on) against the same server with TCP_NODELAY off, where the query waits for the
delayed ACK of the write.
"""

from __future__ import annotations

import pyvisa

from instruments import open_bench
from instruments.emulator import Emulator
from testbed.bench import BenchResult, median_seconds

DEVICE = "pv1"


def run(quick: bool = False) -> BenchResult:
    repeats, naive_repeats = (50, 10) if quick else (500, 40)
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
    return BenchResult(
        benchmark="instruments",
        results={
            "driver_write_query_median_ms": driver_s * 1e3,
            "naive_write_query_median_ms": naive_s * 1e3,
        },
        ratios={"driver_vs_naive": naive_s / driver_s},
        notes=[
            f"{repeats} (ours) / {naive_repeats} (naive) write+query pairs on 127.0.0.1",
            "ours includes the SYST:ERR? check after the write and the safety layer's clamp",
            "goal: driver median <= 1 ms",
        ],
    )
