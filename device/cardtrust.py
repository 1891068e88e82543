"""Whether a card's user-authentication certificate is a genuine JPKI one, checked on the box.

While the central service cannot be reached, a card visit must still prove the card: the
certificate read from the card (EF 000A, DER) must be issued DIRECTLY by one of the configured
self-signed JPKI roots (DOMAIN.md §5: no intermediate), signed sha256WithRSA, carry an RSA key
of at least 2048 bits, be a user-authentication certificate (not a CA, and the JPKI
user-authentication policy 1.2.392.200149.8.5.1.3.30, which the test PKI in sim/pki.py puts on
its card certificates too), and be valid at the injected clock.

What this cannot know offline: revocation. The central checks that when it answers; the
re-check after recovery does.

The roots come from the `jpki_root_file` setting (device/parts.py card_trust): empty means
not configured, and every check then says NO_ROOT, so a clinic without the file still starts
and the status page tells the admin what to set. A file that is named but cannot be used
(missing, not a certificate, not a self-signed CA) stops the start with a config error
(exit 78), like every other bad file.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import SignatureAlgorithmOID

from device.config import ConfigError
from sync.cardexpiry import card_expiry

JPKI_AUTH_POLICY = x509.ObjectIdentifier("1.2.392.200149.8.5.1.3.30")
MIN_RSA_BITS = 2048
MAX_ROOT_FILE_BYTES = 1024 * 1024  # a bundle of a few roots is a few KiB


class CardTrustProblem(StrEnum):
    """Why a card's certificate is not trusted; worded in web/strings_cardtrust.py."""

    NO_ROOT = "no_root"  # no JPKI root configured: nothing can be checked on the box
    UNREADABLE = "unreadable"  # not a DER certificate
    UNKNOWN_ISSUER = "unknown_issuer"  # no configured root has its issuer's name
    BAD_SIGNATURE = "bad_signature"  # not signed sha256WithRSA by a root of that name
    WRONG_KEY = "wrong_key"  # not an RSA key of at least 2048 bits
    NOT_AUTH_CERT = "not_auth_cert"  # a CA, or without the user-authentication policy
    ROOT_EXPIRED = "root_expired"  # the root that issued it is not valid now
    NOT_YET_VALID = "not_yet_valid"
    EXPIRED = "expired"  # past the grace that follows expiry (sync/cardexpiry.py)


class CardUntrusted(Exception):
    """The card's certificate failed the check; `.problem` says which part."""

    def __init__(self, problem: CardTrustProblem, detail: str = "") -> None:
        super().__init__(f"{problem.value}: {detail}" if detail else problem.value)
        self.problem = problem


class JpkiRootError(ConfigError):
    """The jpki_root_file setting names a file that cannot be used (message: ja then en)."""


class CardTrust:
    """Checks card certificates against the configured JPKI roots at the injected clock.

    `clock` returns a timezone-aware UTC datetime (the appliance's trusted clock)."""

    def __init__(self, roots: Sequence[x509.Certificate], clock: Callable[[], datetime]) -> None:
        self._roots = tuple(roots)
        self._clock = clock

    @property
    def configured(self) -> bool:
        """Whether any root is configured (without one every check is NO_ROOT)."""
        return bool(self._roots)

    @property
    def roots(self) -> tuple[x509.Certificate, ...]:
        return self._roots

    def check(self, der: bytes) -> x509.Certificate:
        """The parsed certificate when it is trusted now; CardUntrusted otherwise."""
        if not self._roots:
            raise CardUntrusted(CardTrustProblem.NO_ROOT)
        try:
            cert = x509.load_der_x509_certificate(der)
        except ValueError:
            raise CardUntrusted(CardTrustProblem.UNREADABLE) from None
        root = self._issuer(cert)
        _check_key(cert)
        _check_kind(cert)
        now = self._clock()
        if not root.not_valid_before_utc <= now <= root.not_valid_after_utc:
            raise CardUntrusted(CardTrustProblem.ROOT_EXPIRED, _name(root.subject))
        if now < cert.not_valid_before_utc:
            raise CardUntrusted(CardTrustProblem.NOT_YET_VALID)
        # Since 2025 a card whose certificate expired still confirms qualification until the
        # end of the third month after (sync/cardexpiry.py); only past that is it no proof.
        if now > cert.not_valid_after_utc and not (
            card_expiry(cert.not_valid_after_utc, now).confirms_qualification
        ):
            raise CardUntrusted(CardTrustProblem.EXPIRED)
        return cert

    def _issuer(self, cert: x509.Certificate) -> x509.Certificate:
        """The configured root that signed cert. Generations of the JPKI root may share one
        name, so each root of that name is tried."""
        candidates = [r for r in self._roots if r.subject == cert.issuer]
        if not candidates:
            raise CardUntrusted(CardTrustProblem.UNKNOWN_ISSUER, _name(cert.issuer))
        if cert.signature_algorithm_oid != SignatureAlgorithmOID.RSA_WITH_SHA256:
            raise CardUntrusted(
                CardTrustProblem.BAD_SIGNATURE, cert.signature_algorithm_oid.dotted_string
            )
        for root in candidates:
            try:
                cert.verify_directly_issued_by(root)
            except (ValueError, TypeError, InvalidSignature):
                continue
            return root
        raise CardUntrusted(CardTrustProblem.BAD_SIGNATURE)


def _check_key(cert: x509.Certificate) -> None:
    try:
        key = cert.public_key()
    except (ValueError, TypeError):  # a key type cryptography cannot load
        raise CardUntrusted(CardTrustProblem.WRONG_KEY) from None
    if not isinstance(key, rsa.RSAPublicKey) or key.key_size < MIN_RSA_BITS:
        raise CardUntrusted(CardTrustProblem.WRONG_KEY)


def _check_kind(cert: x509.Certificate) -> None:
    """A user-authentication certificate: no CA (the root itself would otherwise pass as a
    card), and the JPKI user-authentication policy."""
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        if constraints.ca:
            raise CardUntrusted(CardTrustProblem.NOT_AUTH_CERT, "CA certificate")
    except x509.ExtensionNotFound:
        pass
    try:
        policies = cert.extensions.get_extension_for_class(x509.CertificatePolicies).value
    except x509.ExtensionNotFound:
        raise CardUntrusted(CardTrustProblem.NOT_AUTH_CERT, "no certificate policy") from None
    except ValueError:  # a malformed extension
        raise CardUntrusted(CardTrustProblem.NOT_AUTH_CERT, "unreadable policy") from None
    if not any(p.policy_identifier == JPKI_AUTH_POLICY for p in policies):
        raise CardUntrusted(CardTrustProblem.NOT_AUTH_CERT, "not the JPKI auth policy")


def _name(name: x509.Name) -> str:
    return name.rfc4514_string()[:200]


def root_file_given(path: Path) -> bool:
    """Whether the jpki_root_file setting names a file (an empty one reads as Path("."))."""
    return str(path) not in ("", ".")


def load_roots(path: Path) -> list[x509.Certificate]:
    """The JPKI root certificates in `path`: a PEM bundle of one or more, or one DER
    certificate. JpkiRootError (a ConfigError: exit 78 at start) when the file is missing or
    unreadable, holds no certificate, or holds one that is not a self-signed CA."""
    try:
        with path.open("rb") as file:
            data = file.read(MAX_ROOT_FILE_BYTES + 1)
    except FileNotFoundError:
        raise JpkiRootError(_missing_message(path)) from None
    except OSError as exc:
        raise JpkiRootError(
            f"JPKI ルート証明書ファイル {path} を読めません（{exc.strerror}）。"
            "ファイルの権限と設定 jpki_root_file を確認してください。\n"
            f"Cannot read the JPKI root certificate file {path} ({exc.strerror}). Check the "
            "file's permissions and the jpki_root_file setting."
        ) from None
    if len(data) > MAX_ROOT_FILE_BYTES:
        raise JpkiRootError(_not_certificate_message(path, "too large"))
    try:
        if b"-----BEGIN" in data:
            roots = x509.load_pem_x509_certificates(data)
        else:
            roots = [x509.load_der_x509_certificate(data)]
    except ValueError:
        raise JpkiRootError(_not_certificate_message(path, "no certificate")) from None
    for root in roots:
        if not _self_signed_ca(root):
            subject = _name(root.subject)
            raise JpkiRootError(
                f"JPKI ルート証明書ファイル {path} の証明書 {subject} は自己署名の CA 証明書では"
                "ありません。J-LIS が公開する利用者証明用のルート証明書（自己署名）だけを置いて"
                "ください。\n"
                f"The certificate {subject} in the JPKI root certificate file {path} is not a "
                "self-signed CA certificate. Put only the self-signed JPKI user-authentication "
                "root certificate(s) published by J-LIS there."
            )
    return roots


def _self_signed_ca(cert: x509.Certificate) -> bool:
    if cert.subject != cert.issuer:
        return False
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except (x509.ExtensionNotFound, ValueError):
        return False
    if not constraints.ca:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _missing_message(path: Path) -> str:
    return (
        f"JPKI ルート証明書ファイル {path} がありません（設定 jpki_root_file）。"
        "J-LIS が公開する利用者証明用ルート証明書を置くか、設定を空にしてください"
        "（空にするとオフライン時にカードの証明書を確認できません）。\n"
        f"The JPKI root certificate file {path} (setting jpki_root_file) does not exist. Put "
        "the JPKI user-authentication root certificate published by J-LIS there, or empty the "
        "setting (then card certificates cannot be checked while the central is unreachable)."
    )


def _not_certificate_message(path: Path, what: str) -> str:
    return (
        f"JPKI ルート証明書ファイル {path} は証明書ではありません。PEM（複数可）または DER の"
        "ルート証明書を指定してください。\n"
        f"The JPKI root certificate file {path} is not a certificate ({what}). Give the root "
        "certificate(s) as PEM (one or more) or as one DER certificate."
    )
