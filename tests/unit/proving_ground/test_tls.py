"""The proving ground's test CA and server certificate (``proving_ground.tls``), without a server:
handshakes run in memory."""

import os
import ssl
import stat

import pytest

from proving_ground.tls import ensure_tls_files, identities_for


def handshake(server_context: ssl.SSLContext, client_context: ssl.SSLContext, hostname: str) -> None:
    """A TLS handshake between the two contexts through memory buffers; raises what the client raises."""
    server_in, server_out, client_in, client_out = (ssl.MemoryBIO() for dummy in range(4))
    server = server_context.wrap_bio(server_in, server_out, server_side=True)
    client = client_context.wrap_bio(client_in, client_out, server_hostname=hostname)
    done = {"client": False, "server": False}
    for dummy in range(20):
        for name, side in (("client", client), ("server", server)):
            if not done[name]:
                try:
                    side.do_handshake()
                    done[name] = True
                except ssl.SSLWantReadError:
                    pass
            server_in.write(client_out.read())
            client_in.write(server_out.read())
        if all(done.values()):
            return
    raise AssertionError("the handshake did not finish")


def test_files_are_made_once_and_the_keys_are_private(tmp_path):
    files = ensure_tls_files(tmp_path / "tls")
    for path in (files.ca_bundle, files.certificate_chain, files.private_key, files.trust_bundle):
        assert path.is_file()
    assert stat.S_IMODE(os.stat(files.private_key).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "tls" / "ca-key.pem").st_mode) == 0o600
    before = {path: path.read_bytes() for path in (files.ca_bundle, files.certificate_chain, files.private_key)}
    again = ensure_tls_files(tmp_path / "tls")
    assert {path: path.read_bytes() for path in before} == before
    assert again.ca_bundle == files.ca_bundle


def test_the_trust_bundle_holds_the_test_ca_after_the_usual_ones(tmp_path):
    files = ensure_tls_files(tmp_path)
    bundle = files.trust_bundle.read_text()
    assert bundle.endswith(files.ca_bundle.read_text())
    assert bundle.count("BEGIN CERTIFICATE") >= 1


@pytest.mark.parametrize("hostname", ["127.0.0.1", "localhost"])
def test_a_client_that_trusts_the_test_ca_accepts_the_server(tmp_path, hostname):
    files = ensure_tls_files(tmp_path)
    handshake(files.server_context(), files.client_context(), hostname)


def test_a_client_without_the_test_ca_refuses_the_server(tmp_path):
    files = ensure_tls_files(tmp_path)
    untrusting = ssl.create_default_context(cafile=str(ensure_tls_files(tmp_path / "other").ca_bundle))
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(files.server_context(), untrusting, "127.0.0.1")


def test_a_name_the_certificate_lacks_is_refused_until_it_is_issued_for_it(tmp_path):
    files = ensure_tls_files(tmp_path)
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(files.server_context(), files.client_context(), "proving-ground.internal")
    ca = files.ca_bundle.read_bytes()
    reissued = ensure_tls_files(tmp_path, host="proving-ground.internal")
    assert reissued.ca_bundle.read_bytes() == ca  # same CA: what clients trust stays valid
    handshake(reissued.server_context(), reissued.client_context(), "proving-ground.internal")


def test_identities():
    assert identities_for("127.0.0.1") == ["127.0.0.1", "localhost", "::1"]
    assert identities_for("0.0.0.0") == ["127.0.0.1", "localhost", "::1"]
    assert identities_for("[::1]", ["pg.local"]) == ["127.0.0.1", "localhost", "::1", "pg.local"]
