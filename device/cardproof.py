"""What proves a card and its holder on the box: the certificate's RSA key, and the card's
signature of a digest checked against it. Possession and PIN are proven by that signature,
whatever the central says or whether it answers (a visit signs the central's nonce online, a
challenge made here offline)."""

from __future__ import annotations

import secrets

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from reader.errors import ReaderError
from reader.jpki import JpkiSession, digest_info_sha256
from sync.challenge import payload_digest


class BadCertificate(ReaderError):
    """The card's certificate does not parse, or its key is not RSA."""


class SignatureMismatch(ReaderError):
    """The card's signature does not match its certificate."""


def auth_public_key(der: bytes) -> tuple[x509.Certificate, rsa.RSAPublicKey]:
    """The user-authentication certificate and its RSA key; BadCertificate otherwise."""
    try:
        certificate = x509.load_der_x509_certificate(der)
        key = certificate.public_key()
    except ValueError as exc:
        raise BadCertificate("certificate does not parse") from exc
    if not isinstance(key, rsa.RSAPublicKey):
        raise BadCertificate("certificate key is not RSA")
    return certificate, key


def signed_and_checked(card: JpkiSession, key: rsa.RSAPublicKey, digest: bytes) -> bytes:
    """The card's signature of `digest`, checked against its key (SignatureMismatch)."""
    signature = card.sign(digest_info_sha256(digest))
    try:
        key.verify(signature, digest, padding.PKCS1v15(), Prehashed(hashes.SHA256()))
    except InvalidSignature:
        raise SignatureMismatch("signature does not match the certificate") from None
    return signature


def sign_challenge(card: JpkiSession, key: rsa.RSAPublicKey, code: str, file_id: str) -> None:
    """The card signs a challenge made here, fresh per visit (no signature is replayed),
    bound like the central's nonce to the institution and the request id."""
    challenge = secrets.token_bytes(32)
    signed_and_checked(card, key, payload_digest(challenge, code, file_id))
