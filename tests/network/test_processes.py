"""Processes of a local network: whether one still runs, and how it ended."""

import signal
import sys
import time

from testbed.network import processes


def test_a_child_runs_until_it_exits_whatever_its_command_line_reads(tmp_path):
    """A child just started may still be inside exec, its /proc command line empty: its Popen,
    not /proc, says whether it runs."""
    code = "import sys; sys.stdin.read()"  # runs until its stdin closes: /dev/null, at once
    pid = processes.spawn([sys.executable, "-c", "import time; time.sleep(30)"],
                          tmp_path / "child.log")
    try:
        assert processes.alive(pid, "a marker in no command line")
        assert processes.ended(pid) == ""
    finally:
        processes.stop([(pid, "")])
    assert not processes.alive(pid, "")
    assert processes.ended(pid) == f"was killed by {signal.SIGTERM.name}"
    quick = processes.spawn([sys.executable, "-c", code], tmp_path / "quick.log")
    deadline = time.monotonic() + 30
    while processes.alive(quick, ""):
        assert time.monotonic() < deadline, "a child reading an empty stdin did not exit"
        time.sleep(0.05)
    assert processes.ended(quick) == "exited with code 0"
