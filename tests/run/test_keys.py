"""A run signs with keys made for it, or the user's key files; development keys only on request."""

import pytest

from testbed.errors import KeyFileError
from testbed.ledger.keys import KeyPair
from testbed.run.keys import RunKeys


def test_generated_keys_are_fresh_and_not_the_development_ones():
    a, b = RunKeys.generate(3, 1), RunKeys.generate(3, 1)
    with pytest.warns(UserWarning, match="development keys"):
        dev = RunKeys.development(3, 1)
    publics = {k.public for k in (*a.validators, *a.accounts, *a.meters)}
    assert len(publics) == 7
    assert publics.isdisjoint(k.public for k in (*b.validators, *b.accounts, *b.meters))
    assert publics.isdisjoint(k.public for k in (*dev.validators, *dev.accounts, *dev.meters))


def test_a_key_folder_is_created_encrypted_and_reused(tmp_path, monkeypatch):
    monkeypatch.setenv("TESTBED_PASSPHRASE", "correct horse")
    folder = tmp_path / "keys"
    first = RunKeys.in_folder(folder)(2, 1)
    assert sorted(p.name for p in folder.iterdir()) == [
        "auditor.key", "auditor.view", "home-0.key", "home-0.view", "home-1.key", "home-1.view",
        "meter-0.key", "meter-1.key", "validator-0.key", "validators.view"]
    assert b"ENCRYPTED PRIVATE KEY" in (folder / "home-0.key").read_bytes()
    again = RunKeys.in_folder(folder)(2, 1)
    assert [k.public for k in again.accounts] == [k.public for k in first.accounts]
    more = RunKeys.in_folder(folder)(3, 1)  # a third home gets a new key beside the others
    assert more.accounts[:2] == again.accounts[:2] or [k.public for k in more.accounts[:2]] == [
        k.public for k in first.accounts]
    monkeypatch.setenv("TESTBED_PASSPHRASE", "wrong")
    with pytest.raises(KeyFileError, match="wrong passphrase"):
        RunKeys.in_folder(folder)(2, 1)
    assert isinstance(KeyPair.load(folder / "meter-1.key", "correct horse"), KeyPair)


def test_the_summary_says_which_keys_anyone_can_use(monkeypatch, tmp_path, capsys):
    from testbed.records.summary import print_summary, write_summary
    from testbed.run import public_keys

    monkeypatch.setenv("TESTBED_PASSPHRASE", "correct horse")
    assert public_keys(RunKeys.generate(2, 1)) is None  # nothing public: no row printed
    with pytest.warns(UserWarning, match="development keys"):
        dev = RunKeys.development(2, 1)
    assert public_keys(dev) == "signing keys (--dev-keys)"
    monkeypatch.delenv("TESTBED_PASSPHRASE")  # key files written now: the public passphrase
    both = public_keys(dev)
    assert both == "signing keys (--dev-keys), key files (TESTBED_PASSPHRASE unset)"
    assert public_keys(RunKeys.generate(2, 1)) == "key files (TESTBED_PASSPHRASE unset)"

    monkeypatch.setenv("COLUMNS", "200")  # the table's cell unwrapped
    summary = write_summary(tmp_path, {"scenario": "s", "start": "t", "public_keys": both})
    print_summary(summary, tmp_path)
    printed = capsys.readouterr().out
    assert "Keys anyone can use (development only)" in printed and "--dev-keys" in printed
