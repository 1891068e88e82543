# ruff: noqa: E501  (the dictionary keeps its lines as the documents have them)
"""Deflate with a preset dictionary: answers and row summaries are small documents that
repeat the same long tag and field names, which a plain deflate of one document cannot share.

The dictionary is the start of every packed value's history, so it is frozen: a stored value
is unpacked with the dictionary it was packed with, forever. A new dictionary would be a new
`packed` value in the store, beside this one, never a change to this one.
"""

from __future__ import annotations

import zlib

# A filled-in answer (its row summary, then its XML) made of placeholders: tag and field names,
# the shapes of dates and codes; no person's data.
DICTIONARY_V1 = (
    b'{"v":1,"h":{"process_time":"20260101000000","confirmation_date":"20260101","medical_institution_code":"1312345670","file_id":"1","reference_classification":"2","segment_of_result":"1","processing_status":"1","validity":"1","character_code":"1"},"s":{"insurer_number":"01130012","number":"1","birthdate":"20260101","symbol":"1","branch":"01"},"q":[{"card_classification":"01","insurer_number":"01130012","symbol":"1","number":"1","branch":"1","personal_family":"1","sex":"1","birthdate":"20260101","qualification_date":"20260101","disqualification_date":"20260101","reason_of_loss":"1","certificate_issuance_date":"20260101","card_valid_date":"20260101","card_expiration_date":"20260101","contribution_ratio":"030","preschool":true,"elderly":{"issue_date":"20260101","valid_start":"20260101","valid_end":"20260101","ratio":"020"},"limit":{"classification":"1","flag":"1","issue_date":"20260101","valid_start":"20260101","valid_end":"20260101"},"specific_diseases":["1"],"consents":[{"kind":"drug","flag":"1","time":"20260101000000","available_time":"20260101000000"},{"kind":"checkup","flag":"1","time":"20260101000000","available_time":"20260101000000"},{"kind":"diagnosis","flag":"1","time":"20260101000000","available_time":"20260101000000"},{"kind":"surgery","flag":"1","time":"20260101000000","available_time":"20260101000000"}],"reference_number":"1","public_expenses":[{"number":"54000000","recipient":"0000000","valid_start":"20260101","valid_end":"20260101"}],"medical_tickets":[{"ticket_type":"01","valid_date":"20260101","expiration_date":"20260101","issue_number":"1","treatment_month":"202601","institution_code":"1312345670","institution_flag":"1","institution_name":"1","prescriber_code":"1312345670","prescriber_name":"1","injury_names":["1"],"treatment_type":"01","self_pay_amount":"0","district_contact":"1","handling_contact":"1","single_or_combined":"1","social_insurance":"1","consistency_flag":"1","infection":"1","elderly_care":"1","prefectural":"1","remarks":["1"]}]}]}\n'
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b"<XmlMsg>\n"
    b"  <MessageHeader>\n"
    b"    <ProcessExecutionTime>20260101000000</ProcessExecutionTime>\n"
    b"    <QualificationConfirmationDate>20260101</QualificationConfirmationDate>\n"
    b"    <MedicalInstitutionCode>1312345670</MedicalInstitutionCode>\n"
    b"    <ArbitraryFileIdentifier>1</ArbitraryFileIdentifier>\n"
    b"    <ReferenceClassification>2</ReferenceClassification>\n"
    b"    <SegmentOfResult>1</SegmentOfResult>\n"
    b"    <CharacterCodeIdentifier>1</CharacterCodeIdentifier>\n"
    b"  </MessageHeader>\n"
    b"  <MessageBody>\n"
    b"    <ProcessingResultStatus>1</ProcessingResultStatus>\n"
    b"    <QualificationValidity>1</QualificationValidity>\n"
    b"    <QualificationConfirmSearchInfo>\n"
    b"      <InsurerNumber>01130012</InsurerNumber>\n"
    b"      <InsuredCardSymbol>1</InsuredCardSymbol>\n"
    b"      <InsuredIdentificationNumber>1</InsuredIdentificationNumber>\n"
    b"      <InsuredBranchNumber>01</InsuredBranchNumber>\n"
    b"      <Birthdate>20260101</Birthdate>\n"
    b"      <LimitApplicationCertificateRelatedConsFlg>0</LimitApplicationCertificateRelatedConsFlg>\n"
    b"    </QualificationConfirmSearchInfo>\n"
    b"    <ResultList>\n"
    b"      <ResultOfQualificationConfirmation>\n"
    b"        <InsuredCardClassification>01</InsuredCardClassification>\n"
    b"        <InsurerNumber>01130012</InsurerNumber>\n"
    b"        <InsuredCardSymbol>1</InsuredCardSymbol>\n"
    b"        <InsuredIdentificationNumber>1</InsuredIdentificationNumber>\n"
    b"        <InsuredBranchNumber>1</InsuredBranchNumber>\n"
    b"        <PersonalFamilyClassification>1</PersonalFamilyClassification>\n"
    b"        <Sex1>1</Sex1>\n"
    b"        <Birthdate>20260101</Birthdate>\n"
    b"        <PostNumber>1000000</PostNumber>\n"
    b"        <QualificationDate>20260101</QualificationDate>\n"
    b"        <DisqualificationDate>20260101</DisqualificationDate>\n"
    b"        <InsuredCertificateIssuanceDate>20260101</InsuredCertificateIssuanceDate>\n"
    b"        <InsuredCardValidDate>20260101</InsuredCardValidDate>\n"
    b"        <InsuredCardExpirationDate>20260101</InsuredCardExpirationDate>\n"
    b"        <InsuredPartialContributionRatio>030</InsuredPartialContributionRatio>\n"
    b"        <PreschoolClassification>1</PreschoolClassification>\n"
    b"        <ReasonOfLoss>1</ReasonOfLoss>\n"
    b"        <ElderlyRecipientCertificateInfo>\n"
    b"          <ElderlyRecipientCertificateDate>20260101</ElderlyRecipientCertificateDate>\n"
    b"          <ElderlyRecipientValidStartDate>20260101</ElderlyRecipientValidStartDate>\n"
    b"          <ElderlyRecipientValidEndDate>20260101</ElderlyRecipientValidEndDate>\n"
    b"          <ElderlyRecipientContributionRatio>020</ElderlyRecipientContributionRatio>\n"
    b"        </ElderlyRecipientCertificateInfo>\n"
    b"        <LimitApplicationCertificateRelatedInfo>\n"
    b"          <LimitApplicationCertificateClassification>1</LimitApplicationCertificateClassification>\n"
    b"          <LimitApplicationCertificateClassificationFlag>1</LimitApplicationCertificateClassificationFlag>\n"
    b"          <LimitApplicationCertificateDate>20260101</LimitApplicationCertificateDate>\n"
    b"          <LimitApplicationCertificateValidStartDate>20260101</LimitApplicationCertificateValidStartDate>\n"
    b"          <LimitApplicationCertificateValidEndDate>20260101</LimitApplicationCertificateValidEndDate>\n"
    b"        </LimitApplicationCertificateRelatedInfo>\n"
    b"        <SpecificDiseasesCertificateList>\n"
    b"          <SpecificDiseasesCertificateInfo>\n"
    b"            <SpecificDiseasesDiseaseCategory>1</SpecificDiseasesDiseaseCategory>\n"
    b"          </SpecificDiseasesCertificateInfo>\n"
    b"        </SpecificDiseasesCertificateList>\n"
    b"        <PublicExpenseResultList>\n"
    b"          <PublicExpenseInfo>\n"
    b"            <PublicExpenseNumber>54000000</PublicExpenseNumber>\n"
    b"            <RecipientNumber>0000000</RecipientNumber>\n"
    b"            <PublicExpenseValidStartDate>20260101</PublicExpenseValidStartDate>\n"
    b"            <PublicExpenseValidEndDate>20260101</PublicExpenseValidEndDate>\n"
    b"          </PublicExpenseInfo>\n"
    b"          <MedicalTicketInfo>\n"
    b"            <TicketType>01</TicketType>\n"
    b"            <MedicalTicketValidDate>20260101</MedicalTicketValidDate>\n"
    b"            <MedicalTicketExpirationDate>20260101</MedicalTicketExpirationDate>\n"
    b"            <IssueNumber>1</IssueNumber>\n"
    b"            <MedicalTreatmentMonth>202601</MedicalTreatmentMonth>\n"
    b"            <DesignatedMedicalInstitutionCode>1312345670</DesignatedMedicalInstitutionCode>\n"
    b"            <DesignatedMedicalInstitutionFlag>1</DesignatedMedicalInstitutionFlag>\n"
    b"            <DesignatedMedicalInstitutionName>1</DesignatedMedicalInstitutionName>\n"
    b"            <PrescriptionIssuerMedicalInstitutionCode>1312345670</PrescriptionIssuerMedicalInstitutionCode>\n"
    b"            <PrescriptionIssuerMedicalInstitutionName>1</PrescriptionIssuerMedicalInstitutionName>\n"
    b"            <InjuryName1>1</InjuryName1>\n"
    b"            <MedicalTreatmentType>01</MedicalTreatmentType>\n"
    b"            <SelfPayAmount>0</SelfPayAmount>\n"
    b"            <DistrictContactName>1</DistrictContactName>\n"
    b"            <HandlingContactName>1</HandlingContactName>\n"
    b"            <SingleOrCombinedUse>1</SingleOrCombinedUse>\n"
    b"            <StatusOfSocialInsurance>1</StatusOfSocialInsurance>\n"
    b"            <ConsistencyFlag>1</ConsistencyFlag>\n"
    b"            <StatusOfInfecton>1</StatusOfInfecton>\n"
    b"            <StatusOfElderlyMedicalCare>1</StatusOfElderlyMedicalCare>\n"
    b"            <StatusOfPrefecturalExpenses>1</StatusOfPrefecturalExpenses>\n"
    b"            <Remarks1>1</Remarks1>\n"
    b"          </MedicalTicketInfo>\n"
    b"        </PublicExpenseResultList>\n"
    b"        <PharmacistsInfoConsFlg>1</PharmacistsInfoConsFlg>\n"
    b"        <PharmacistsInfoConsTime>20260101000000</PharmacistsInfoConsTime>\n"
    b"        <PharmacistsInfoAvailableTime>20260101000000</PharmacistsInfoAvailableTime>\n"
    b"        <SpecificHealthCheckupsInfoConsFlg>1</SpecificHealthCheckupsInfoConsFlg>\n"
    b"        <SpecificHealthCheckupsInfoConsTime>20260101000000</SpecificHealthCheckupsInfoConsTime>\n"
    b"        <SpecificHealthCheckupsInfoAvailableTime>20260101000000</SpecificHealthCheckupsInfoAvailableTime>\n"
    b"        <DiagnosisInfoConsFlg>1</DiagnosisInfoConsFlg>\n"
    b"        <DiagnosisInfoConsTime>20260101000000</DiagnosisInfoConsTime>\n"
    b"        <DiagnosisInfoAvailableTime>20260101000000</DiagnosisInfoAvailableTime>\n"
    b"        <OperationInfoConsFlg>1</OperationInfoConsFlg>\n"
    b"        <OperationInfoConsTime>20260101000000</OperationInfoConsTime>\n"
    b"        <OperationInfoAvailableTime>20260101000000</OperationInfoAvailableTime>\n"
    b"        <ReferenceNumber>1</ReferenceNumber>\n"
    b"      </ResultOfQualificationConfirmation>\n"
    b"    </ResultList>\n"
    b"  </MessageBody>\n"
    b"</XmlMsg>\n"
)


def pack(data: bytes) -> bytes:
    """`data` deflated with DICTIONARY_V1 (b"" stays b"")."""
    if not data:
        return b""
    packer = zlib.compressobj(
        9, zlib.DEFLATED, zlib.MAX_WBITS, 9, zlib.Z_DEFAULT_STRATEGY, DICTIONARY_V1
    )
    return packer.compress(data) + packer.flush()


def unpack(data: bytes) -> bytes:
    """What `pack` was given."""
    if not data:
        return b""
    unpacker = zlib.decompressobj(zlib.MAX_WBITS, DICTIONARY_V1)
    return unpacker.decompress(data) + unpacker.flush()
