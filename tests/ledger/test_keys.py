import warnings

import pytest

from testbed.errors import KeyFileError
from testbed.ledger.keys import DEV_PASSPHRASE, KeyPair, _warn_development_passphrase, passphrase


def test_key_file_is_encrypted_and_private(tmp_path):
    key = KeyPair.generate()
    path = tmp_path / "k.key"
    key.save(path, "correct horse")
    text = path.read_text()
    assert "ENCRYPTED PRIVATE KEY" in text
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert KeyPair.load(path, "correct horse").public == key.public
    with pytest.raises(KeyFileError, match="wrong passphrase"):
        KeyPair.load(path, "wrong")


def test_repr_shows_only_the_public_key():
    key = KeyPair.from_seed(bytes(range(32)))
    assert repr(key) == f"KeyPair(public={key.public.hex()})"
    assert bytes(range(32)).hex() not in repr(key)


def test_secret_seed_is_the_keys_own():
    seed = bytes(range(32))
    key = KeyPair.from_seed(seed)
    assert key.secret_seed() == seed
    assert KeyPair.from_seed(key.secret_seed()).public == key.public
    assert seed.hex() not in repr(key) and seed.hex() not in str(key)


def test_passphrase_sources(monkeypatch):
    monkeypatch.setenv("TESTBED_PASSPHRASE", "from-env")
    assert passphrase() == "from-env"
    monkeypatch.delenv("TESTBED_PASSPHRASE")
    _warn_development_passphrase.cache_clear()  # as in a process that has not warned yet
    with pytest.warns(UserWarning, match="development"):
        assert passphrase(development=True) == DEV_PASSPHRASE
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert passphrase(development=True) == DEV_PASSPHRASE  # said once per process
