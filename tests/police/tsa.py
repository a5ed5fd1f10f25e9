"""A local RFC 3161 timestamp authority for tests: pyHanko's offline test stamper
behind a real HTTP server on 127.0.0.1, with a throwaway root CA and TSA certificate."""

from __future__ import annotations

import datetime
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from asn1crypto import keys as akeys
from asn1crypto import tsp
from asn1crypto import x509 as ax509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper


def _certificate(name: str, *, issuer=None, issuer_key=None, ca: bool):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.datetime.now(datetime.UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer or subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=365))
    )
    usage = dict.fromkeys(
        [
            "digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
            "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only",
        ],
        False,
    )  # fmt: skip
    if ca:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        usage.update(key_cert_sign=True, crl_sign=True)
    else:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True
        )
        usage.update(digital_signature=True, content_commitment=True)
    builder = builder.add_extension(x509.KeyUsage(**usage), critical=True)
    return key, builder.sign(issuer_key or key, hashes.SHA256())


class LocalAuthority:
    """Serves timestamp requests at `url`; `chain_pem` is its root + TSA certificate."""

    def __init__(self, name: str = "Test") -> None:
        self.ca_key, self.ca = _certificate(f"{name} Root CA", ca=True)
        tsa_key, self.tsa = _certificate(
            f"{name} TSA", issuer=self.ca.subject, issuer_key=self.ca_key, ca=False
        )
        der = serialization.Encoding.DER
        self.stamper = DummyTimeStamper(
            tsa_cert=ax509.Certificate.load(self.tsa.public_bytes(der)),
            tsa_key=akeys.PrivateKeyInfo.load(
                tsa_key.private_bytes(
                    der, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
                )
            ),
        )
        pem = serialization.Encoding.PEM
        self.chain_pem = self.ca.public_bytes(pem) + self.tsa.public_bytes(pem)
        self.requests = 0
        authority = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                authority.requests += 1
                reply = authority.stamper.request_tsa_response(tsp.TimeStampReq.load(body)).dump()
                self.send_response(200)
                self.send_header("Content-Type", "application/timestamp-reply")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/tsa"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def write_chain(self, path: Path) -> Path:
        path.write_bytes(self.chain_pem)
        return path

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
