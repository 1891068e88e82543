"""What a visit does with the card certificate's expiry (the rules are sync/cardexpiry.py,
shared with the simulated central): read it before anything is asked of the patient, tell the
screens, and say whether the visit may go on and whether consent may be asked.

RENEW_SOON: the kiosk tells the patient to renew at the city office; the visit goes on.
GRACE: qualification only; no consent screen, nothing shared, the kiosk says why.
GRACE_OVER: no PIN is asked; the kiosk sends the patient to the desk with their 資格確認書 and
the desk is told the next step (a check by insurance numbers).
"""

from __future__ import annotations

from datetime import datetime

from cryptography import x509

from device.events import CardExpiring, CardGraceOver, CardInGrace, Event
from sync.cardexpiry import CardExpiry, CardStanding, card_expiry


def certificate_expiry(certificate: x509.Certificate, now: datetime) -> CardExpiry:
    """The standing of the card's user-authentication certificate at `now` (the visit's clock)."""
    return card_expiry(certificate.not_valid_after_utc, now)


def expiry_event(visit_id: str, expiry: CardExpiry) -> Event | None:
    """What the screens are told about the certificate's expiry; None when nothing is to say."""
    if expiry.standing is CardStanding.RENEW_SOON:
        return CardExpiring(visit_id, expiry.expires_on)
    if expiry.standing is CardStanding.GRACE:
        return CardInGrace(visit_id, expiry.expires_on, expiry.grace_until)
    if expiry.standing is CardStanding.GRACE_OVER:
        return CardGraceOver(visit_id, expiry.expires_on, expiry.grace_until)
    return None
