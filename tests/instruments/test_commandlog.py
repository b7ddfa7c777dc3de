"""The command log is written from the bench's signal handler, which runs in the main thread
between any two bytecodes: a signal landing while the main thread logs must not deadlock."""

import subprocess
import sys
import textwrap

SIGNAL_WHILE_LOGGING = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from instruments.commandlog import CommandLog
    from testbed.records.columns import ALARMS
    from testbed.records.recorder import Recorder

    recorder = Recorder(Path(sys.argv[1]))
    log = CommandLog(Path(sys.argv[1]) / "instruments.log",
                     listener=lambda entry: recorder._append(ALARMS, [entry]))

    def trip(signum, frame):  # as the bench's handler does: log the trip, then go on
        log.record("bench", "event", "trip: signal SIGUSR1", trip="signal SIGUSR1")

    signal.signal(signal.SIGUSR1, trip)
    for held in (log._lock, recorder._lock):  # where the main thread spends its logging
        with held:
            os.kill(os.getpid(), signal.SIGUSR1)  # the handler runs here, the lock held
            _ = sum(range(10))
    print(len(Path(sys.argv[1], "instruments.log").read_text().splitlines()))
""")


def test_a_signal_landing_while_the_main_thread_logs_is_logged_without_a_deadlock(tmp_path):
    done = subprocess.run([sys.executable, "-c", SIGNAL_WHILE_LOGGING, str(tmp_path)],
                          capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "2"  # both trips logged
