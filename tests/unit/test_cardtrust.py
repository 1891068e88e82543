"""device/cardtrust.py: a card's certificate checked on the box against the JPKI root(s), at
the injected clock; the root file, the setting, and how a bad one stops the start.

Everything is built at START (the test PKI as built then, pki_at), so no test depends on today.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from device import cli
from device.cardtrust import (
    CardTrust,
    CardTrustProblem,
    CardUntrusted,
    JpkiRootError,
    load_roots,
    root_file_given,
)
from device.config import ConfigError, load_config, stored_setting_problem
from device.demo import demo_overrides
from device.parts import card_trust
from sim.cli import pki_dir
from sim.pki import EXPIRED_AGO, JPKI_AUTH_POLICY, JPKI_ROOT_NAME, PkiPaths, pki_paths
from sync.cardexpiry import card_expiry
from sync.clock import JST

START = datetime(2026, 4, 1, 0, 30, tzinfo=UTC)  # the instant the test PKI is built at
GOOD, EXPIRED = "P001", "P019"  # sim/population.py: a valid card, an expired one


@pytest.fixture
def pki(pki_at: Any) -> PkiPaths:
    return pki_at(START)  # type: ignore[no-any-return]


@pytest.fixture
def root(pki: PkiPaths) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pki.jpki_root_cert.read_bytes())


@pytest.fixture
def root_key(pki: PkiPaths) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(pki.jpki_root_key.read_bytes(), None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def other_root(rsa_key: rsa.RSAPrivateKey) -> x509.Certificate:
    """Another self-signed CA, under another name."""
    return self_signed(rsa_key, _name("another root"))


def at(instant: datetime) -> Callable[[], datetime]:
    return lambda: instant


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def self_signed(key: Any, name: x509.Name, *, ca: bool = True) -> x509.Certificate:
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(START - timedelta(days=3650))
        .not_valid_after(START + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )


def leaf(
    issuer: x509.Name,
    issuer_key: Any,
    subject_key: Any,
    *,
    policy: str | None = JPKI_AUTH_POLICY,
    ca: bool = False,
    algorithm: hashes.HashAlgorithm = hashes.SHA256(),  # noqa: B008 - immutable
) -> bytes:
    """A card-like certificate, valid around START, as DER."""
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name("0123456789ABCDEF"))
        .issuer_name(issuer)
        .public_key(subject_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(START - timedelta(days=1))
        .not_valid_after(START + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if policy is not None:
        info = x509.PolicyInformation(x509.ObjectIdentifier(policy), None)
        builder = builder.add_extension(x509.CertificatePolicies([info]), critical=False)
    cert = builder.sign(issuer_key, algorithm)
    return cert.public_bytes(serialization.Encoding.DER)


def problem(trust: CardTrust, der: bytes) -> CardTrustProblem:
    with pytest.raises(CardUntrusted) as caught:
        trust.check(der)
    return caught.value.problem


# -- the check ------------------------------------------------------------------------------
def test_a_genuine_card_is_trusted(pki: PkiPaths, root: x509.Certificate) -> None:
    der = pki.card_cert(GOOD).read_bytes()
    trust = CardTrust([root], at(START))
    assert trust.configured
    cert = trust.check(der)
    assert cert == x509.load_der_x509_certificate(der)
    assert isinstance(cert.public_key(), rsa.RSAPublicKey)  # the flow checks the signature


def test_an_expired_card_is_not_trusted(pki: PkiPaths, root: x509.Certificate) -> None:
    der = pki.card_cert(EXPIRED).read_bytes()
    assert problem(CardTrust([root], at(START)), der) is CardTrustProblem.EXPIRED
    # the same card, when it was still valid: only the date made it untrusted
    assert CardTrust([root], at(START - EXPIRED_AGO - timedelta(days=1))).check(der)


def test_validity_is_read_at_the_clock_at_each_check(pki: PkiPaths, root: x509.Certificate) -> None:
    der = pki.card_cert(GOOD).read_bytes()
    card = x509.load_der_x509_certificate(der)
    now = [card.not_valid_before_utc - timedelta(seconds=1)]
    trust = CardTrust([root], lambda: now[0])
    assert problem(trust, der) is CardTrustProblem.NOT_YET_VALID
    now[0] = card.not_valid_before_utc
    assert trust.check(der)
    now[0] = card.not_valid_after_utc
    assert trust.check(der)
    now[0] = card.not_valid_after_utc + timedelta(seconds=1)  # expired, within its grace:
    assert trust.check(der)  # it still confirms qualification (the 2025 rule)
    grace = card_expiry(card.not_valid_after_utc, now[0]).grace_until
    now[0] = datetime.combine(grace + timedelta(days=1), time(0, 0, 1), JST)
    assert problem(trust, der) is CardTrustProblem.EXPIRED


def test_a_card_from_another_root_is_not_trusted(
    pki: PkiPaths, other_root: x509.Certificate, rsa_key: rsa.RSAPrivateKey
) -> None:
    trust = CardTrust([other_root], at(START))
    assert problem(trust, pki.card_cert(GOOD).read_bytes()) is CardTrustProblem.UNKNOWN_ISSUER
    # ...and one the other root issued is not trusted by the JPKI root
    forged = leaf(other_root.subject, rsa_key, rsa_key)
    assert trust.check(forged)  # it is a well-formed card of that root
    jpki = CardTrust([x509.load_pem_x509_certificate(pki.jpki_root_cert.read_bytes())], at(START))
    assert problem(jpki, forged) is CardTrustProblem.UNKNOWN_ISSUER


def test_a_root_of_the_same_name_with_another_key_does_not_vouch(
    pki: PkiPaths, root: x509.Certificate, rsa_key: rsa.RSAPrivateKey
) -> None:
    impostor = self_signed(rsa_key, JPKI_ROOT_NAME)
    der = pki.card_cert(GOOD).read_bytes()
    assert problem(CardTrust([impostor], at(START)), der) is CardTrustProblem.BAD_SIGNATURE
    forged = leaf(JPKI_ROOT_NAME, rsa_key, rsa_key)  # signed by the impostor's key
    assert problem(CardTrust([root], at(START)), forged) is CardTrustProblem.BAD_SIGNATURE
    # Generations of the root share a name: each root of that name is tried.
    both = CardTrust([impostor, root], at(START))
    assert both.check(der) and both.check(forged)


@pytest.mark.parametrize(
    "data",
    [b"", b"garbage", b"\x30\x82\x01\x00" + b"\x00" * 256, b"-----BEGIN CERTIFICATE-----\n"],
    ids=["empty", "garbage", "truncated", "pem"],
)
def test_what_is_not_a_certificate_is_unreadable(root: x509.Certificate, data: bytes) -> None:
    assert problem(CardTrust([root], at(START)), data) is CardTrustProblem.UNREADABLE


def test_a_pem_card_certificate_is_unreadable(pki: PkiPaths, root: x509.Certificate) -> None:
    card = x509.load_der_x509_certificate(pki.card_cert(GOOD).read_bytes())
    pem = card.public_bytes(serialization.Encoding.PEM)  # the card holds DER, nothing else
    assert problem(CardTrust([root], at(START)), pem) is CardTrustProblem.UNREADABLE


def test_a_card_key_that_is_not_rsa_2048_is_refused(
    root: x509.Certificate, root_key: rsa.RSAPrivateKey
) -> None:
    trust = CardTrust([root], at(START))
    ec_card = leaf(root.subject, root_key, ec.generate_private_key(ec.SECP256R1()))
    assert problem(trust, ec_card) is CardTrustProblem.WRONG_KEY
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    assert problem(trust, leaf(root.subject, root_key, small)) is CardTrustProblem.WRONG_KEY


def test_only_sha256_with_rsa_signatures(
    root: x509.Certificate, root_key: rsa.RSAPrivateKey, rsa_key: rsa.RSAPrivateKey
) -> None:
    trust = CardTrust([root], at(START))
    assert trust.check(leaf(root.subject, root_key, rsa_key))
    sha512 = leaf(root.subject, root_key, rsa_key, algorithm=hashes.SHA512())
    assert problem(trust, sha512) is CardTrustProblem.BAD_SIGNATURE


@pytest.mark.parametrize(
    ("policy", "ca"),
    [(None, False), ("1.2.392.200149.8.5.1.3.10", False), (JPKI_AUTH_POLICY, True)],
    ids=["no-policy", "signing-policy", "ca"],
)
def test_only_user_authentication_certificates(
    root: x509.Certificate,
    root_key: rsa.RSAPrivateKey,
    rsa_key: rsa.RSAPrivateKey,
    policy: str | None,
    ca: bool,
) -> None:
    der = leaf(root.subject, root_key, rsa_key, policy=policy, ca=ca)
    assert problem(CardTrust([root], at(START)), der) is CardTrustProblem.NOT_AUTH_CERT


def test_the_root_itself_is_not_a_card(root: x509.Certificate) -> None:
    der = root.public_bytes(serialization.Encoding.DER)
    assert problem(CardTrust([root], at(START)), der) is CardTrustProblem.NOT_AUTH_CERT


def test_a_root_that_is_no_longer_valid_vouches_for_nothing(
    pki: PkiPaths, root: x509.Certificate
) -> None:
    after = root.not_valid_after_utc + timedelta(seconds=1)
    der = pki.card_cert(GOOD).read_bytes()
    assert problem(CardTrust([root], at(after)), der) is CardTrustProblem.ROOT_EXPIRED


def test_without_a_root_nothing_is_trusted(pki: PkiPaths) -> None:
    trust = CardTrust([], at(START))
    assert not trust.configured
    assert problem(trust, pki.card_cert(GOOD).read_bytes()) is CardTrustProblem.NO_ROOT
    assert problem(trust, b"garbage") is CardTrustProblem.NO_ROOT


def test_the_problem_is_in_the_message_but_not_the_certificate(
    pki: PkiPaths, other_root: x509.Certificate
) -> None:
    der = pki.card_cert(GOOD).read_bytes()
    with pytest.raises(CardUntrusted) as caught:
        CardTrust([other_root], at(START)).check(der)
    message = str(caught.value)
    assert message.startswith("unknown_issuer") and "JPKI" in message  # the issuer it named
    card = x509.load_der_x509_certificate(der)
    # the holder is known by issuer + serial (personal data): neither serial nor subject is said
    assert str(card.serial_number) not in message
    assert format(card.serial_number, "X") not in message
    assert card.subject.rfc4514_string() not in message


# -- the root file ---------------------------------------------------------------------------
def _pem(*certs: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def test_roots_from_pem_one_or_more_or_der(
    pki: PkiPaths, root: x509.Certificate, other_root: x509.Certificate, tmp_path: Path
) -> None:
    assert load_roots(pki.jpki_root_cert) == [root]
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(b"# two generations\n" + _pem(root, other_root))
    assert load_roots(bundle) == [root, other_root]
    der = tmp_path / "root.der"
    der.write_bytes(root.public_bytes(serialization.Encoding.DER))
    assert load_roots(der) == [root]


_JAPANESE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff]")


def both_languages(message: str) -> None:
    """Japanese, then English on the next line (as the other start errors)."""
    ja, _, en = message.partition("\n")
    assert "JPKI" in ja and _JAPANESE.search(ja), message
    assert en.startswith(("The ", "Cannot ")) and not _JAPANESE.search(en), message


def test_a_missing_root_file_says_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "absent.pem"
    with pytest.raises(JpkiRootError) as caught:
        load_roots(path)
    assert isinstance(caught.value, ConfigError)  # exit 78 at start, like every bad file
    message = str(caught.value)
    both_languages(message)
    assert str(path) in message and "jpki_root_file" in message and "does not exist" in message


def test_an_unreadable_root_file(tmp_path: Path) -> None:
    with pytest.raises(JpkiRootError, match="Cannot read the JPKI root") as caught:
        load_roots(tmp_path)  # a directory
    both_languages(str(caught.value))


@pytest.mark.parametrize(
    "data",
    [b"", b"hello", b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"],
    ids=["empty", "text", "bad-pem"],
)
def test_a_root_file_without_a_certificate(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "root.pem"
    path.write_bytes(data)
    with pytest.raises(JpkiRootError, match="is not a certificate") as caught:
        load_roots(path)
    both_languages(str(caught.value))


def test_a_key_file_is_not_a_root(pki: PkiPaths) -> None:
    with pytest.raises(JpkiRootError, match="is not a certificate"):
        load_roots(pki.jpki_root_key)


def test_a_huge_root_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "root.pem"
    path.write_bytes(b"-" * (1024 * 1024 + 1))
    with pytest.raises(JpkiRootError, match="too large"):
        load_roots(path)


def test_only_self_signed_cas_are_roots(
    pki: PkiPaths, root: x509.Certificate, rsa_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    card = x509.load_der_x509_certificate(pki.card_cert(GOOD).read_bytes())
    not_ca = self_signed(rsa_key, _name("self-signed, not a CA"), ca=False)
    central_ca = x509.load_pem_x509_certificate(pki.central_ca_cert.read_bytes())
    path = tmp_path / "roots.pem"
    for wrong in (card, not_ca):
        path.write_bytes(_pem(root, wrong))  # one wrong certificate spoils the bundle
        with pytest.raises(JpkiRootError, match="not a self-signed CA") as caught:
            load_roots(path)
        both_languages(str(caught.value))
        assert wrong.subject.rfc4514_string() in str(caught.value)
    path.write_bytes(_pem(central_ca))  # a self-signed CA: accepted (the name is not checked)
    assert load_roots(path) == [central_ca]


def test_a_root_whose_self_signature_is_broken_is_refused(
    root: x509.Certificate, rsa_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    # the JPKI root's name and extensions, someone else's key: it does not sign itself
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    broken = (
        x509.CertificateBuilder()
        .subject_name(JPKI_ROOT_NAME)
        .issuer_name(JPKI_ROOT_NAME)
        .public_key(other.public_key())
        .serial_number(1)
        .not_valid_before(START - timedelta(days=1))
        .not_valid_after(START + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(rsa_key, hashes.SHA256())
    )
    path = tmp_path / "root.pem"
    path.write_bytes(_pem(broken))
    with pytest.raises(JpkiRootError, match="not a self-signed CA"):
        load_roots(path)


# -- the setting and its builder ------------------------------------------------------------
def test_the_setting_is_a_path_empty_by_default_and_not_from_the_admin_page(
    tmp_path: Path,
) -> None:
    config = load_config(environ={})
    assert not root_file_given(config.jpki_root_file)
    named = load_config(environ={"ONSHI_JPKI_ROOT_FILE": str(tmp_path / "r.pem")})
    assert named.jpki_root_file == tmp_path / "r.pem" and root_file_given(named.jpki_root_file)
    file = tmp_path / "onshi.toml"
    file.write_text("jpki_root_file = 5\n")
    with pytest.raises(ConfigError, match="jpki_root_file"):
        load_config(file, environ={})
    # what makes a card trusted is decided on the box, never from a page it serves
    assert stored_setting_problem("jpki_root_file", str(tmp_path / "r.pem")) is not None


def test_card_trust_from_the_setting(pki: PkiPaths, tmp_path: Path) -> None:
    der = pki.card_cert(GOOD).read_bytes()
    empty = card_trust(load_config(environ={}), at(START))
    assert not empty.configured and problem(empty, der) is CardTrustProblem.NO_ROOT
    config = load_config(environ={}, overrides={"jpki_root_file": pki.jpki_root_cert})
    trust = card_trust(config, at(START))
    assert trust.configured and trust.check(der)
    assert problem(card_trust(config, at(START + timedelta(days=6 * 365))), der) is (
        CardTrustProblem.EXPIRED
    )
    missing = load_config(environ={}, overrides={"jpki_root_file": tmp_path / "absent.pem"})
    with pytest.raises(JpkiRootError):
        card_trust(missing, at(START))


def test_a_bad_root_file_stops_the_command_with_exit_78(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # `onshi card info` builds the check first: the card and the reader are never touched.
    monkeypatch.delenv("ONSHI_CONFIG", raising=False)
    monkeypatch.setenv("ONSHI_JPKI_ROOT_FILE", str(tmp_path / "absent.pem"))
    monkeypatch.setattr(
        "device.technician.reader_backend",
        lambda config: pytest.fail("the reader was opened"),
    )
    assert cli.main(["card", "info"]) == cli.EXIT_CONFIG
    err = capsys.readouterr().err
    assert "absent.pem" in err and "がありません" in err and "does not exist" in err


def test_the_demo_checks_cards_against_its_test_root(pki: PkiPaths, tmp_path: Path) -> None:
    overrides = demo_overrides(tmp_path)
    built = pki_paths(pki_dir(tmp_path))  # where `onshi sim pki --data` puts the test PKI
    assert overrides["jpki_root_file"] == built.jpki_root_cert
    assert overrides["central_ca"] == built.central_ca_cert
    config = load_config(environ={}, overrides=overrides)
    shutil.copytree(pki.root, built.root)  # as `onshi sim pki` would have built it at START
    trust = card_trust(config, at(START))
    assert trust.check(built.card_cert(GOOD).read_bytes())
