"""Key custody: a home makes its own keys under its own passphrase and sends the operator a
certificate request; the operator admits it without ever seeing a private key, and refuses a
bad request with its reason."""

import os
import subprocess
import sys

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from testbed.agents.identity import (
    CA,
    CERTIFICATE,
    REQUEST,
    TLS_KEY,
    home_credentials,
    load_home_keys,
    make_home_keys,
)
from testbed.errors import InputError
from testbed.network import local
from testbed.network.access import ClientRole, certificate_request

HOME_SECRET = "the home's own passphrase"


@pytest.fixture(scope="module")
def network(tmp_path_factory):
    return local.create(tmp_path_factory.mktemp("net"), validators=1, servers=1).folder


def _admit(network, request):
    return subprocess.run([sys.executable, "-m", "testbed", "network", "admit", str(network),
                           "--request", str(request)], capture_output=True, text=True,
                          check=False, timeout=120)


def test_a_home_is_admitted_with_its_own_keys_which_never_reach_the_network(network,
                                                                            tmp_path):
    keys = make_home_keys(tmp_path / "home", HOME_SECRET)
    done = _admit(network, tmp_path / "home" / REQUEST)
    assert done.returncode == 0, done.stderr
    assert f"admitted {keys.name}@home.p2pe" in done.stdout and "never left" in done.stdout
    tls_key = serialization.load_pem_private_key((tmp_path / "home" / TLS_KEY).read_bytes(),
                                                 HOME_SECRET.encode())
    cert = x509.load_pem_x509_certificate((tmp_path / "home" / CERTIFICATE).read_bytes())
    assert cert.public_key() == tls_key.public_key()
    assert (tmp_path / "home" / CA).read_bytes() == (network / "tls" / "ca.pem").read_bytes()
    secrets = [keys.account.secret_seed(), keys.view.private.private_bytes_raw(),
               tls_key.private_numbers().private_value.to_bytes(32, "big")]
    for root, _, files in os.walk(network):
        for name in files:
            with open(os.path.join(root, name), "rb") as f:
                data = f.read()
            assert not any(s in data for s in secrets), name
    assert f"{keys.name}@home.p2pe" in (network / "servers" / "authorization.conf").read_text()
    again = load_home_keys(tmp_path / "home", HOME_SECRET)
    assert again.account.public == keys.account.public
    assert home_credentials(again).context(HOME_SECRET) is not None  # its key fits its cert
    twice = _admit(network, tmp_path / "home" / REQUEST)
    assert twice.returncode != 0 and "already names a client" in twice.stderr


def _request(role, name, tamper=False):
    data = certificate_request(ec.generate_private_key(ec.SECP256R1()), role, name)
    if tamper:  # another name under the same signature
        csr = x509.load_pem_x509_csr(data)
        der = csr.public_bytes(serialization.Encoding.DER)
        data = x509.load_der_x509_csr(der[:-1] + bytes([der[-1] ^ 1])).public_bytes(
            serialization.Encoding.PEM)
    return data


@pytest.mark.parametrize("request_bytes, reason", [
    (b"not a request", "not a PEM certificate request"),
    (_request(ClientRole.VALIDATOR, "validator-9"), "admit homes and auditors"),
    (_request(ClientRole.HOME, "x" * 10), "named by its account"),
    (_request(ClientRole.HOME, "ab" * 32, tamper=True), "not signed by its own key"),
])
def test_bad_requests_are_refused_with_their_reason(network, request_bytes, reason):
    with pytest.raises(InputError, match=reason):
        local.admit(network, None, None, request_bytes)


def test_keys_are_made_once_and_a_home_without_a_certificate_is_told_what_to_do(tmp_path):
    keys = make_home_keys(tmp_path, HOME_SECRET)
    with pytest.raises(InputError, match="already holds"):
        make_home_keys(tmp_path, HOME_SECRET)
    with pytest.raises(InputError, match="--request"):
        home_credentials(keys)
    with pytest.raises(TypeError):  # the TLS key is encrypted
        serialization.load_pem_private_key((tmp_path / TLS_KEY).read_bytes(), None)
