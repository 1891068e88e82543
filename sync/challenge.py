"""What the card signs during a visit: the central nonce bound to the visit context.

Both the appliance (which asks the card to sign) and the central service (which verifies)
build the payload here, so the two can never disagree on the bytes.
"""

from __future__ import annotations

import hashlib

SEPARATOR = b"\x1f"  # ASCII unit separator: cannot occur in the digits/ids it separates


def signed_payload(nonce: bytes, medical_institution_code: str, file_id: str) -> bytes:
    """The exact bytes whose SHA-256 the card signs."""
    return SEPARATOR.join(
        [b"onshi-card-auth-v1", nonce, medical_institution_code.encode(), file_id.encode()]
    )


def payload_digest(nonce: bytes, medical_institution_code: str, file_id: str) -> bytes:
    return hashlib.sha256(signed_payload(nonce, medical_institution_code, file_id)).digest()
