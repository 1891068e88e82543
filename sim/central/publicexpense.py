"""The public-expense part of the simulated central's answers (DOMAIN §3, §8): the 公費 a
person has beside the insurance (難病, 乳幼児医療) and, for 医療扶助, the month's 医療券.

A ticket is issued for a month: the month of the request's QualificationConfirmationDate
(shifted by the ticket's `month_offset`), valid from its first to its last day. It names the
asking institution (DesignatedMedicalInstitutionFlag 0) unless the person's ticket names
another one (flag 1). Tag names and codes the public sources do not give are best-known
(docs/central-api.md, "Public expense").
"""

from __future__ import annotations

import calendar

from sim.people import AidTicket, Person
from sync.xmlmsg import MedicalTicket, PublicExpense

SINGLE_USE = "1"  # SingleOrCombinedUse: 医療扶助 alone (no social insurance beside it)
FLAG_SAME, FLAG_ELSEWHERE = "0", "1"


def public_expenses(p: Person) -> tuple[PublicExpense, ...]:
    return tuple(PublicExpense(g.number, g.recipient, g.valid_start, g.valid_end) for g in p.grants)


def medical_tickets(p: Person, on: str, institution: str) -> tuple[MedicalTicket, ...]:
    """The person's tickets for the month of `on` (YYYYMMDD); none when `on` is no date."""
    if len(on) != 8 or not on.isdigit() or not 1 <= int(on[4:6]) <= 12:
        return ()
    return tuple(_ticket(t, int(on[:4]), int(on[4:6]), institution) for t in p.aid_tickets)


def _ticket(t: AidTicket, year: int, month: int, institution: str) -> MedicalTicket:
    index = year * 12 + month - 1 + t.month_offset
    year, month = divmod(index, 12)
    month += 1
    last = calendar.monthrange(year, month)[1]
    code, name = t.elsewhere if t.elsewhere[0] else (institution, "")
    return MedicalTicket(
        ticket_type=t.ticket_type,
        valid_date=f"{year:04d}{month:02d}01",
        expiration_date=f"{year:04d}{month:02d}{last:02d}",
        issue_number=t.issue_number,
        treatment_month=f"{year:04d}{month:02d}",
        institution_code=code,
        institution_flag=FLAG_ELSEWHERE if t.elsewhere[0] else FLAG_SAME,
        institution_name=name,
        treatment_type=t.treatment_type,
        self_pay_amount=str(t.self_pay),
        single_or_combined=SINGLE_USE,
        remarks=t.remarks,
    )
