"""Generated command lines and files, run through the CLI's own entry point in-process: every
command ends with exit 0, 1 (a verdict) or 2 (one line on stderr), never a traceback."""

import os
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from testbed.cli import main

words = st.one_of(
    st.sampled_from(["inf", "-inf", "nan", "0", "-1", "1e308", "0.0001", "3", "x", "", "--",
                     "--days", "--rtf", "--control-step", "--head", "--json", "--quick",
                     "--keys", "--dev-keys", "--out", "default", "/nonexistent", "\x00"]),
    st.text(max_size=10))


def _run_cli(args, capsys, folder):
    """``testbed ARGS`` in ``folder`` (whatever a command writes lands there)."""
    old, here = sys.argv, os.getcwd()
    sys.argv = ["testbed", *args]
    os.chdir(folder)
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    finally:
        sys.argv = old
        os.chdir(here)
    out, err = capsys.readouterr()
    return code, out, err


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(command=st.sampled_from([["verify"], ["report"], ["ledger", "init"],
                                ["simulate", "--days"], ["run", "--rtf"], ["study"], ["bench"],
                                ["instruments", "check"]]),
       rest=st.lists(words, max_size=3))
def test_any_arguments_give_one_line_or_usage_never_a_traceback(command, rest, capsys,
                                                               tmp_path_factory):
    args = [*command, *rest]
    if command[0] in ("simulate", "run"):  # stop after option checks: no 15-minute runs here
        args += ["--out", str(tmp_path_factory.mktemp("out")), "no-such-scenario.toml"]
    code, out, err = _run_cli(args, capsys, tmp_path_factory.mktemp("cwd"))
    assert "Traceback" not in err + out
    assert code in (0, 1, 2), (args, code, err)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=4096))
def test_any_file_as_a_ledger_scenario_or_bench_file_is_one_line(data, capsys,
                                                                tmp_path_factory):
    path = tmp_path_factory.mktemp("f") / "input"
    path.write_bytes(data)
    for args in (["verify", str(path)], ["simulate", str(path)],
                 ["instruments", "check", str(path)]):
        code, out, err = _run_cli(args, capsys, path.parent)
        assert "Traceback" not in err + out
        assert code in (1, 2), (args, code, err)
        if code == 2:
            assert len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize("args", [["simulate", "--days", "inf"], ["simulate", "--days", "0.01"],
                                  ["run", "--rtf", "nan"], ["simulate", "--days", "-1"]])
def test_bad_options_are_one_line(args, capsys, tmp_path):
    code, _, err = _run_cli(args, capsys, tmp_path)
    assert code == 2 and err.startswith("error: ") and len(err.strip().splitlines()) == 1
