"""Bench instruments: profile-driven SCPI drivers over PyVISA, a safety layer, an emulator.

``open_bench(path_or_dict, log=...)`` opens a bench file's devices behind the safety layer;
``instruments.emulator.Emulator`` serves simulated ones on loopback sockets.
"""

from instruments.bench import Bench, BenchConfig, load_bench, open_bench
from instruments.commandlog import CommandLog
from instruments.profiles import Profile, load_profile, profile_names
from instruments.safety import DeviceLimits, Watchdog

__all__ = [
    "Bench",
    "BenchConfig",
    "CommandLog",
    "DeviceLimits",
    "Profile",
    "Watchdog",
    "load_bench",
    "load_profile",
    "open_bench",
    "profile_names",
]
