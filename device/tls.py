"""The staff listener's HTTPS certificate: the clinic's own, or a self-signed one made here.

A clinic that has a certificate (its own CA, or a name in a public one) sets staff_tls_cert and
staff_tls_key. Otherwise the appliance makes an ECDSA P-256 self-signed certificate once, in
<data_dir>/staff-tls/, for its host name, localhost and its addresses; browsers then ask staff to
trust it once. 825 days is the longest validity Apple platforms accept for a server certificate;
a new one is made when it has expired or has 30 days or less left, so it never lapses unseen.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from device.config import Config, ConfigError
from sync.clock import utc_now

TLS_DIR = "staff-tls"
CERT_FILE = "cert.pem"
KEY_FILE = "key.pem"
VALIDITY = timedelta(days=825)
RENEW_BEFORE = timedelta(days=30)
_BACKDATE = timedelta(minutes=5)  # a client whose clock is a little behind still accepts it


def staff_certificate(config: Config, *, now: datetime | None = None) -> tuple[Path, Path]:
    """(certificate, private key) PEM paths for the staff listener; see the module text."""
    cert, key = config.staff_tls_cert, config.staff_tls_key
    if _given(cert) or _given(key):
        missing = [
            f"{name} ({path})"
            for name, path in (("staff_tls_cert", cert), ("staff_tls_key", key))
            if not _given(path) or not path.is_file()
        ]
        if missing:
            raise ConfigError(
                "HTTPSの証明書と秘密鍵は両方とも存在するファイルを指定してください / "
                "staff_tls_cert and staff_tls_key must both name existing files: "
                + ", ".join(missing)
            )
        return cert, key
    at = now if now is not None else utc_now()
    folder = config.data_dir / TLS_DIR
    cert, key = folder / CERT_FILE, folder / KEY_FILE
    if not _usable(cert, key, at):
        _create(folder, cert, key, config.staff_host, at)
    return cert, key


def _given(path: Path) -> bool:
    return str(path) not in ("", ".")


def _usable(cert: Path, key: Path, now: datetime) -> bool:
    """Both files there, the certificate readable and not within RENEW_BEFORE of expiry."""
    if not (cert.is_file() and key.is_file()):
        return False
    try:
        loaded = x509.load_pem_x509_certificate(cert.read_bytes())
    except ValueError:
        return False
    return loaded.not_valid_after_utc - now > RENEW_BEFORE


def _create(folder: Path, cert: Path, key: Path, staff_host: str, now: datetime) -> None:
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    hostname = socket.gethostname() or "localhost"
    private = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [x509.DNSName("localhost")]
    if hostname != "localhost":
        names.append(x509.DNSName(hostname))
    addresses = {ipaddress.ip_address("127.0.0.1")}
    try:
        addresses.add(ipaddress.ip_address(staff_host))
    except ValueError:
        if staff_host and staff_host not in (hostname, "localhost"):
            names.append(x509.DNSName(staff_host))  # a host name given instead of an address
    names += [x509.IPAddress(a) for a in sorted(addresses, key=str) if not a.is_unspecified]
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"onshi-edge {hostname}"[:64])])
    public = private.public_key()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(private, hashes.SHA256())
    )
    key_pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # Key first, each written whole and renamed into place: a crash leaves the old pair or none.
    _write(key, key_pem, 0o600)
    _write(cert, certificate.public_bytes(serialization.Encoding.PEM), 0o644)


def _write(path: Path, data: bytes, mode: int) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.unlink(missing_ok=True)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(temporary, mode)  # the umask may have narrowed it; never wider than asked
    os.replace(temporary, path)
