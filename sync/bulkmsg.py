"""Bulk qualification inquiry (一括照会, DOMAIN.md §3 "Bulk inquiry") and 照会番号 registration:
the typed messages. Building and parsing the official documents lives beside them here.

A bulk inquiry is asynchronous in four files: `OQSmuquc01req` (many search entries, each with
its own `ArbitraryIdentifier`) → `OQSmuquc01res` (a `ReceptionNumber`) → `OQSmuquc02req` (that
number) → `OQSmuquc02res` (SegmentOfResult 2 "not ready, ask again", or the counts and one unit
per entry). The reception number is what survives a restart in the middle of a run.
"""

from __future__ import annotations

from dataclasses import dataclass

from sync.xmlmsg import QualificationResult, SearchInfo

# How many entries one OQSmuquc01req carries at most; a longer list is split into batches.
MAX_BULK_ENTRIES = 1000


@dataclass(frozen=True)
class BulkEntry:  # one <QualificationConfirmSearchInfo> of OQSmuquc01req
    identifier: str  # ArbitraryIdentifier: ties the unit of the answer back to the entry
    search: SearchInfo


@dataclass(frozen=True)
class BulkUpload:  # OQSmuquc01req
    medical_institution_code: str
    confirmation_date: str  # QualificationConfirmationDate YYYYMMDD: the day checked (tomorrow)
    file_id: str  # ArbitraryFileIdentifier (idempotency key: the same upload twice → same number)
    entries: tuple[BulkEntry, ...]


@dataclass(frozen=True)
class BulkReceipt:  # OQSmuquc01res
    file_id: str
    reception_number: str  # ReceptionNumber: what the download asks for
    process_time: str  # ProcessExecutionTime (the central's clock)


@dataclass(frozen=True)
class BulkQuery:  # OQSmuquc02req
    medical_institution_code: str
    file_id: str  # ArbitraryFileIdentifier of this download request
    reception_number: str


@dataclass(frozen=True)
class BulkUnit:  # one person's answer inside OQSmuquc02res
    identifier: str  # the entry's ArbitraryIdentifier
    result: QualificationResult  # as a single answer would carry it (ReferenceClassification 2)
    raw: bytes  # that unit as a single result document (OQSsiquc01res layout), for the store


@dataclass(frozen=True)
class BulkAnswer:  # OQSmuquc02res
    file_id: str
    reception_number: str
    process_time: str
    segment_of_result: str  # "1" done, "2" in progress (ask again), "9" abnormal
    processed: int = 0  # NumberOfProcessingResult
    normal: int = 0  # NumberOfNormalProcessing
    errors: int = 0  # NumberOfError
    units: tuple[BulkUnit, ...] = ()
    error_code: str = ""
    error_message: str = ""

    @property
    def ready(self) -> bool:
        return self.segment_of_result == "1"


@dataclass(frozen=True)
class ReferenceRegistration:  # one <ReferenceNumberRegistrationInfo>
    reference_number: str  # 照会番号: the clinic's patient number (≤ 50)
    search: SearchInfo  # whose: insurer / symbol / number / branch / birth date


@dataclass(frozen=True)
class ReferenceRequest:  # OQSsiimm01req (one) or OQSmuimm01req (many)
    medical_institution_code: str
    file_id: str
    registrations: tuple[ReferenceRegistration, ...]


@dataclass(frozen=True)
class ReferenceOutcome:  # the answer for one registration
    reference_number: str
    registered: bool
    code: str = ""  # ProcessingResultCode when not registered
    message: str = ""  # ProcessingResultMessage, shown to staff verbatim


@dataclass(frozen=True)
class ReferenceAnswer:  # OQSsiimm01res / OQSmuimm01res
    file_id: str
    process_time: str
    outcomes: tuple[ReferenceOutcome, ...]
