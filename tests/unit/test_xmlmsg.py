from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from sync.xmlmsg import (
    MAX_MESSAGE_BYTES,
    CardAuthentication,
    ConsentAnswer,
    ConsentState,
    ElderlyInfo,
    LimitInfo,
    MessageError,
    Qualification,
    QualificationRequest,
    QualificationResult,
    SearchInfo,
    build_request,
    build_result,
    parse_request,
    parse_result,
    request_file_name,
    result_file_name,
)

SAMPLES = Path(__file__).parent / "samples"
ENCODINGS = ["utf-8", "shift_jis"]

FULL_QUALIFICATION = Qualification(
    card_classification="01",
    insurer_number="06132013",
    symbol="記号１２",
    number="1234",
    branch="01",
    personal_family="1",
    insured_name="髙橋　花子",
    name="髙橋　花子",
    name_of_other="Takahashi Hanako",
    name_kana="タカハシ　ハナコ",
    name_of_other_kana="ﾀｶﾊｼ ﾊﾅｺ",
    sex="2",
    birthdate="19500401",
    address="東京都千代田区霞が関１－２－２　①号室",
    post_number="100-8916",
    qualification_date="20100401",
    disqualification_date="20240331",
    reason_of_loss="03",
    certificate_issuance_date="20100401",
    card_valid_date="20100401",
    card_expiration_date="20260331",
    contribution_ratio="020",
    preschool=True,
    insurer_name="全国健康保険協会東京支部",
    elderly=ElderlyInfo(
        issue_date="20240301", valid_start="20240401", valid_end="20250731", ratio="020"
    ),
    limit=LimitInfo(
        classification="01",
        flag="B01",
        issue_date="20240301",
        valid_start="20240401",
        valid_end="20250331",
    ),
    specific_diseases=("1", "3"),
    consents=(
        ConsentState("checkup", "1", "20240401090000", "20240402090000"),
        ConsentState("drug", "0"),
        ConsentState("surgery", "2", "20240301090000"),
        ConsentState("diagnosis", "1", available_time="20240402090000"),
    ),
    reference_number="K-000123",
)

FULL_RESULT = QualificationResult(
    process_time="20240401090002",
    confirmation_date="20240401",
    medical_institution_code="1312345678",
    file_id="20240401090000001",
    reference_classification="2",
    segment_of_result="1",
    processing_status="1",
    processing_code="W001",
    processing_message="資格は有効です。\n負担割合に注意してください。",
    validity="1",
    prescription_issue_select="2",
    error_code="E1",
    error_message="エラー",
    character_code="1",
    search=SearchInfo(
        insurer_number="  138057",
        number="98765",
        birthdate="19500401",
        symbol="あ１",
        branch="02",
        limit_consent=True,
    ),
    results=(FULL_QUALIFICATION, Qualification(number="2", elderly=ElderlyInfo())),
)

ABNORMAL_RESULT = QualificationResult(
    process_time="20240401090500",
    confirmation_date="20240401",
    medical_institution_code="1312345678",
    file_id="3",
    reference_classification="2",
    segment_of_result="9",
    error_code="EQS0001E",
    error_message="要求ファイルの形式に誤りがあります。",
)

NUMBERS_REQUEST = QualificationRequest(
    medical_institution_code="1312345678",
    confirmation_date="20240401",
    file_id="20240401090000001",
    reference_classification="2",
    search=SearchInfo("06132013", "1234", "19700401", symbol="記号１２", branch="01"),
)

CARD_REQUEST = QualificationRequest(
    medical_institution_code="1312345678",
    confirmation_date="20240401",
    file_id="20240401091500002",
    reference_classification="1",
    card=CardAuthentication(
        certificate=bytes(range(256)) * 5,
        nonce=b"\x00" * 32,
        signature=b"\xff" * 256,
        method="pin",
    ),
    consents=(
        ConsentAnswer("drug", True, "20240401091455"),
        ConsentAnswer("checkup", False, "20240401091455"),
        ConsentAnswer("surgery", True, ""),
    ),
)


def _sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def _replace_text(doc: bytes, old: str, new: str) -> bytes:
    text = doc.decode("utf-8")
    assert old in text
    return text.replace(old, new, 1).encode("utf-8")


def _error(data: bytes, parse: object = parse_result) -> MessageError:
    assert callable(parse)
    with pytest.raises(MessageError) as caught:
        parse(data)
    return caught.value


# ---------------------------------------------------------------- round trips


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("result", [FULL_RESULT, ABNORMAL_RESULT], ids=["full", "abnormal"])
def test_result_round_trip(result: QualificationResult, encoding: str) -> None:
    assert parse_result(build_result(result, encoding)) == result


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_result_round_trip_of_defaults(encoding: str) -> None:
    result = QualificationResult("20240401090000", "20240401", "1312345678", "1", "1", "2")
    assert parse_result(build_result(result, encoding)) == result


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize(
    "text",
    [
        "𠮷野家",  # outside JIS: travels as a character reference in Shift_JIS
        "波ダッシュ〜と全角チルダ～",  # CP932 writes 〜 as 0x8160, which reads back as ～
        "−‖¢£¬",  # other one-way CP932 mappings
        "髙﨑①Ⅲ㈱",  # NEC/IBM extensions only CP932 has
        "ｶﾀｶﾅ",
        "a & b < c > d \" e ' f",
        "&amp; is text",
        "  leading and trailing  ",
        "line\r\nbreak\rcarriage\nfeed",
        "😀",
        "\t",
    ],
)
def test_text_round_trip(text: str, encoding: str) -> None:
    result = dataclasses.replace(
        ABNORMAL_RESULT,
        error_message=text,
        results=(Qualification(name=text, address=text, insurer_name=text),),
    )
    assert parse_result(build_result(result, encoding)) == result


@pytest.mark.parametrize("request_", [NUMBERS_REQUEST, CARD_REQUEST], ids=["numbers", "card"])
def test_request_round_trip(request_: QualificationRequest) -> None:
    assert parse_request(build_request(request_)) == request_


def test_request_with_both_card_and_search_round_trips() -> None:
    both = dataclasses.replace(CARD_REQUEST, search=NUMBERS_REQUEST.search)
    assert parse_request(build_request(both)) == both


def test_build_request_is_utf8_with_declaration() -> None:
    data = build_request(NUMBERS_REQUEST)
    assert data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<XmlMsg>')
    assert "記号１２".encode() in data


def test_build_result_shift_jis_bytes() -> None:
    data = build_result(FULL_RESULT, "shift_jis")
    assert data.startswith(b'<?xml version="1.0" encoding="Shift_JIS"?>')
    assert "髙橋".encode("cp932") in data
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")


@pytest.mark.parametrize("encoding", ["UTF-8", "Shift_JIS", "SJIS", "cp932", "windows-31j"])
def test_build_result_encoding_names(encoding: str) -> None:
    assert parse_result(build_result(FULL_RESULT, encoding)) == FULL_RESULT


def test_build_result_unknown_encoding() -> None:
    with pytest.raises(MessageError):
        build_result(FULL_RESULT, "euc-jp")


def test_optional_empty_elements_are_omitted() -> None:
    data = build_result(
        dataclasses.replace(
            ABNORMAL_RESULT,
            segment_of_result="1",
            processing_status="1",
            error_code="",
            error_message="",
            results=(Qualification(number="1"),),
        )
    )
    for tag in (
        b"ErrorCode",
        b"InsuredCardSymbol",
        b"ElderlyRecipientCertificateInfo",
        b"LimitApplicationCertificateRelatedInfo",
        b"SpecificDiseasesCertificateList",
        b"PreschoolClassification",
        b"QualificationConfirmSearchInfo",
        b"ConsFlg",
    ):
        assert tag not in data
    assert b"<InsuredIdentificationNumber>1</InsuredIdentificationNumber>" in data


def test_abnormal_result_has_no_body() -> None:
    assert b"MessageBody" not in build_result(ABNORMAL_RESULT)


def test_search_without_symbol_omits_it() -> None:
    data = build_request(
        dataclasses.replace(NUMBERS_REQUEST, search=SearchInfo("06132013", "1234", "19700401"))
    )
    assert b"InsuredCardSymbol" not in data
    assert b"InsuredBranchNumber" not in data
    assert b"<LimitApplicationCertificateRelatedConsFlg>0<" in data


def test_request_consents_go_in_consent_info() -> None:
    data = build_request(CARD_REQUEST).decode()
    info = data[data.index("<ConsentInfo>") : data.index("</ConsentInfo>")]
    assert "<PharmacistsInfoConsFlg>1</PharmacistsInfoConsFlg>" in info
    assert "<PharmacistsInfoConsTime>20240401091455</PharmacistsInfoConsTime>" in info
    assert "<SpecificHealthCheckupsInfoConsFlg>0</SpecificHealthCheckupsInfoConsFlg>" in info
    assert "<OperationInfoConsFlg>1</OperationInfoConsFlg>" in info
    assert "OperationInfoConsTime" not in info


def test_card_request_without_consents_has_no_consent_info() -> None:
    data = build_request(dataclasses.replace(CARD_REQUEST, consents=()))
    assert b"ConsentInfo" not in data


# ---------------------------------------------------------------- build refusals


@pytest.mark.parametrize(
    "request_",
    [
        dataclasses.replace(NUMBERS_REQUEST, search=None),
        dataclasses.replace(CARD_REQUEST, card=None),
        dataclasses.replace(NUMBERS_REQUEST, reference_classification="3"),
        dataclasses.replace(CARD_REQUEST, consents=(ConsentAnswer("allergy", True, ""),)),
        dataclasses.replace(
            CARD_REQUEST,
            consents=(ConsentAnswer("drug", True, ""), ConsentAnswer("drug", False, "")),
        ),
    ],
    ids=["numbers-without-search", "card-without-card", "classification-3", "kind", "repeat"],
)
def test_build_request_refuses(request_: QualificationRequest) -> None:
    with pytest.raises(MessageError):
        build_request(request_)


@pytest.mark.parametrize("char", ["\x00", "\x07", "\x1b", "\ufffe", "\ud800"])
def test_build_refuses_characters_xml_cannot_carry(char: str) -> None:
    result = dataclasses.replace(ABNORMAL_RESULT, results=(Qualification(name=f"a{char}b"),))
    with pytest.raises(MessageError) as caught:
        build_result(result)
    assert "Name" in str(caught.value)
    assert caught.value.path == "Name"


def test_build_result_refuses_unknown_consent_kind() -> None:
    result = dataclasses.replace(
        ABNORMAL_RESULT, results=(Qualification(consents=(ConsentState("x", "1"),)),)
    )
    with pytest.raises(MessageError):
        build_result(result)


# ---------------------------------------------------------------- samples


def test_sample_numbers_request() -> None:
    request_ = parse_request(_sample("OQSsiquc01req_20240401090000001.xml"))
    assert request_ == QualificationRequest(
        medical_institution_code="1312345678",
        confirmation_date="20240401",
        file_id="20240401090000001",
        reference_classification="2",
        search=SearchInfo(
            insurer_number="06132013",
            number="1234",
            birthdate="19700401",
            symbol="記号１２",
            branch="01",
            limit_consent=True,
        ),
    )


def test_sample_card_request_with_wrapped_base64() -> None:
    request_ = parse_request(_sample("OQSsiquc01req_20240401091500002.xml"))
    assert request_.card == CardAuthentication(
        certificate=bytes(range(256)) * 3,
        nonce=bytes(range(32)),
        signature=b"signature",
        method="pin",
    )
    assert request_.consents == (
        ConsentAnswer("drug", True, "20240401091455"),
        ConsentAnswer("checkup", False, "20240401091455"),
    )
    assert request_.search is None


def test_sample_shift_jis_result() -> None:
    data = _sample("OQSsiquc01res_20240401090000001.xml")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")  # the sample really is Shift_JIS
    assert b"\r\n" in data
    result = parse_result(data)
    assert result.validity == "1"
    assert result.character_code == "1"
    assert result.search is not None and result.search.limit_consent
    (only,) = result.results
    assert only.name == "髙橋　花子"  # 髙 exists only in CP932, not in strict Shift_JIS
    assert only.name_kana == "ﾀｶﾊｼ ﾊﾅｺ"
    assert only.address == "東京都千代田区霞が関１－２－２　①号室"
    assert only.sex == "2"
    assert only.preschool is False  # 2 means in school
    assert only.contribution_ratio == "030"
    assert only.elderly == ElderlyInfo("20240301", "20240401", "20250731", "020")
    assert only.limit == LimitInfo("01", "A03", "20240301", "20240401", "20250331")
    assert only.specific_diseases == ("1",)
    assert only.consents == ()
    assert only.reference_number == "K-000123"


def test_sample_face_result() -> None:
    result = parse_result(_sample("OQSsiquc01res_face_20240401091500002.xml"))
    assert result.reference_classification == "1"
    assert result.prescription_issue_select == "1"
    (only,) = result.results
    assert only.insurer_number == "  138057"  # kept as given; compared trimmed elsewhere
    assert only.name == "𠮷田　ひなた"
    assert only.preschool is True
    assert only.consents == (
        ConsentState("checkup", "0"),
        ConsentState("drug", "1", "20240401091455", "20240402091455"),
        ConsentState("diagnosis", "1", "20240401091455", "20240402091455"),
    )


def test_sample_abnormal_result() -> None:
    result = parse_result(_sample("OQSsiquc01res_20240401090500003.xml"))
    assert result == dataclasses.replace(
        ABNORMAL_RESULT, file_id="20240401090500003", character_code="0"
    )


@pytest.mark.parametrize("path", sorted(SAMPLES.glob("OQSsiquc01res_*.xml")), ids=lambda p: p.name)
def test_sample_results_survive_rebuilding(path: Path) -> None:
    result = parse_result(path.read_bytes())
    for encoding in ENCODINGS:
        assert parse_result(build_result(result, encoding)) == result


# ---------------------------------------------------------------- unknown tags


def test_unknown_tags_are_ignored() -> None:
    plain = build_result(FULL_RESULT)
    noisy = plain
    for anchor in (
        "<MessageHeader>",
        "<MessageBody>",
        "<ResultList>",
        "<ResultOfQualificationConfirmation>",
        "<ElderlyRecipientCertificateInfo>",
        "<QualificationConfirmSearchInfo>",
    ):
        noisy = _replace_text(noisy, anchor, f"{anchor}<FutureTag>x<Nested>y</Nested></FutureTag>")
    noisy = _replace_text(noisy, "<XmlMsg>", "<XmlMsg version='9'><!-- note --><?pi data?>")
    noisy = _replace_text(
        noisy,
        "<ReferenceNumber>",
        "<AllergyInfoConsFlg>1</AllergyInfoConsFlg><ReferenceNumber>",
    )
    assert noisy != plain
    assert parse_result(noisy) == FULL_RESULT


def test_unknown_tags_in_request_are_ignored() -> None:
    data = _replace_text(
        build_request(CARD_REQUEST),
        "<ConsentInfo>",
        "<ConsentInfo><NewKindConsFlg>1</NewKindConsFlg>",
    )
    assert parse_request(data) == CARD_REQUEST


def test_repeated_consent_flag_first_wins() -> None:
    data = _replace_text(
        build_request(CARD_REQUEST),
        "</ConsentInfo>",
        "<PharmacistsInfoConsFlg>0</PharmacistsInfoConsFlg></ConsentInfo>",
    )
    assert parse_request(data) == CARD_REQUEST


# ---------------------------------------------------------------- malformed input


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"hello",
        b'{"XmlMsg": {}}',
        b"<XmlMsg>",
        b"<XmlMsg><MessageHeader></XmlMsg>",
        b"<XmlMsg/><XmlMsg/>",
        b"\x00\x01\x02",
        "<XmlMsg>".encode("utf-16"),
        b"  <?xml version='1.0'?><XmlMsg/>",  # declaration not at the start
    ],
)
def test_not_xml(data: bytes) -> None:
    for parse in (parse_result, parse_request):
        assert isinstance(_error(data, parse), ValueError)


def test_not_xml_message_says_where() -> None:
    message = str(_error(b"<XmlMsg>\n<MessageHeader>\n</XmlMsg>"))
    assert "XML として読めません" in message
    assert "3行目" in message


@pytest.mark.parametrize("root", ["Xmlmsg", "html", "MessageHeader"])
def test_wrong_root(root: str) -> None:
    data = build_result(FULL_RESULT).replace(b"XmlMsg", root.encode())
    message = str(_error(data))
    assert "XmlMsg" in message and root in message


def test_namespaced_root_is_wrong_root() -> None:
    data = b'<XmlMsg xmlns="urn:x"><MessageHeader/></XmlMsg>'
    assert "XmlMsg" in str(_error(data))


def test_missing_header() -> None:
    error = _error(b"<XmlMsg><MessageBody/></XmlMsg>")
    assert str(error) == "MessageHeader がありません / MessageHeader is missing"
    assert error.path == "MessageHeader"


@pytest.mark.parametrize(
    "tag",
    [
        "ProcessExecutionTime",
        "QualificationConfirmationDate",
        "MedicalInstitutionCode",
        "ArbitraryFileIdentifier",
        "ReferenceClassification",
        "SegmentOfResult",
    ],
)
def test_result_missing_header_field(tag: str) -> None:
    data = build_result(FULL_RESULT).decode()
    start = data.index(f"<{tag}>")
    end = data.index(f"</{tag}>") + len(f"</{tag}>")
    error = _error((data[:start] + data[end:]).encode())
    assert str(error) == f"MessageHeader/{tag} がありません / MessageHeader/{tag} is missing"
    assert error.path == f"MessageHeader/{tag}"
    empty = data[:start] + f"<{tag}/>" + data[end:]
    assert "が空です" in str(_error(empty.encode()))


@pytest.mark.parametrize(
    "tag",
    [
        "QualificationConfirmationDate",
        "MedicalInstitutionCode",
        "ArbitraryFileIdentifier",
        "ReferenceClassification",
    ],
)
def test_request_missing_header_field(tag: str) -> None:
    data = build_request(NUMBERS_REQUEST).decode()
    start = data.index(f"<{tag}>")
    end = data.index(f"</{tag}>") + len(f"</{tag}>")
    error = _error((data[:start] + data[end:]).encode(), parse_request)
    assert f"MessageHeader/{tag} がありません" in str(error)


def test_result_is_not_a_request() -> None:
    # a request has no ProcessExecutionTime/SegmentOfResult
    assert "ProcessExecutionTime" in str(_error(build_request(NUMBERS_REQUEST)))


@pytest.mark.parametrize(
    ("request_", "path"),
    [
        (NUMBERS_REQUEST, "MessageBody/QualificationConfirmSearchInfo"),
        (CARD_REQUEST, "MessageBody/CardAuthenticationInfo"),
    ],
)
def test_request_missing_body_part(request_: QualificationRequest, path: str) -> None:
    data = build_request(request_).decode()
    tag = path.rsplit("/", 1)[1]
    start = data.index(f"<{tag}>")
    end = data.index(f"</{tag}>") + len(f"</{tag}>")
    error = _error((data[:start] + data[end:]).encode(), parse_request)
    assert error.path == path
    without_body = data[: data.index("<MessageBody>")] + "</XmlMsg>"
    assert _error(without_body.encode(), parse_request).path == path


@pytest.mark.parametrize(
    ("old", "new", "path"),
    [
        ("<InsurerNumber>06132013<", "<InsurerNumber><", "InsurerNumber"),
        ("<Birthdate>19700401<", "<Birthdate><", "Birthdate"),
        (
            "<InsuredIdentificationNumber>1234<",
            "<InsuredIdentificationNumber><",
            "InsuredIdentificationNumber",
        ),
        (
            "<LimitApplicationCertificateRelatedConsFlg>0<",
            "<LimitApplicationCertificateRelatedConsFlg>2<",
            "LimitApplicationCertificateRelatedConsFlg",
        ),
        ("<ReferenceClassification>2<", "<ReferenceClassification>3<", "ReferenceClassification"),
    ],
)
def test_request_bad_fields(old: str, new: str, path: str) -> None:
    data = _replace_text(build_request(NUMBERS_REQUEST), old, new)
    error = _error(data, parse_request)
    assert error.path is not None and error.path.endswith(path)
    assert path in str(error)


@pytest.mark.parametrize(
    ("old", "new", "tag"),
    [
        ("<Nonce>", "<Nonce>!!!", "Nonce"),
        ("<Signature>", "<Signature>=", "Signature"),
        ("<Certificate>", "<Certificate>*", "Certificate"),
        ("<VerificationMethod>pin<", "<VerificationMethod>fingerprint<", "VerificationMethod"),
        ("<VerificationMethod>pin<", "<VerificationMethod><", "VerificationMethod"),
        ("<PharmacistsInfoConsFlg>1<", "<PharmacistsInfoConsFlg>yes<", "PharmacistsInfoConsFlg"),
        (
            "<PharmacistsInfoConsTime>20240401091455<",
            "<PharmacistsInfoConsTime>202404010914<",
            "PharmacistsInfoConsTime",
        ),
    ],
)
def test_card_request_bad_fields(old: str, new: str, tag: str) -> None:
    data = _replace_text(build_request(CARD_REQUEST), old, new)
    error = _error(data, parse_request)
    assert error.path is not None and error.path.endswith(tag)


@pytest.mark.parametrize(
    "value",
    [
        "2024-04-01",
        "2024041",
        "202404011",
        "2024O401",
        "２０２４０４０１",
        " 20240401",
        "20240401\n",
    ],
)
def test_bad_date_formats(value: str) -> None:
    data = _replace_text(
        build_result(FULL_RESULT),
        "<QualificationConfirmationDate>20240401<",
        f"<QualificationConfirmationDate>{value}<",
    )
    error = _error(data)
    assert error.path == "MessageHeader/QualificationConfirmationDate"
    assert "YYYYMMDD" in str(error)
    assert value.strip() not in str(error)  # values are not echoed into logs


@pytest.mark.parametrize(
    "value", ["20240401", "2024040109000", "202404010900001", "2024-04-01T09:00:00"]
)
def test_bad_timestamp_formats(value: str) -> None:
    data = _replace_text(
        build_result(FULL_RESULT),
        "<ProcessExecutionTime>20240401090002<",
        f"<ProcessExecutionTime>{value}<",
    )
    assert "YYYYMMDDHHmmss" in str(_error(data))


@pytest.mark.parametrize(
    ("old", "path"),
    [
        ("<Birthdate>19500401<", "MessageBody/QualificationConfirmSearchInfo/Birthdate"),
        (
            "<QualificationDate>20100401<",
            "MessageBody/ResultList/ResultOfQualificationConfirmation[1]/QualificationDate",
        ),
        (
            "<ElderlyRecipientValidEndDate>20250731<",
            "MessageBody/ResultList/ResultOfQualificationConfirmation[1]/ElderlyRecipientCertificateInfo/ElderlyRecipientValidEndDate",
        ),
        (
            "<LimitApplicationCertificateDate>20240301<",
            "MessageBody/ResultList/ResultOfQualificationConfirmation[1]/LimitApplicationCertificateRelatedInfo/LimitApplicationCertificateDate",
        ),
        (
            "<SpecificHealthCheckupsInfoAvailableTime>20240402090000<",
            "MessageBody/ResultList/ResultOfQualificationConfirmation[1]/SpecificHealthCheckupsInfoAvailableTime",
        ),
    ],
)
def test_nested_bad_dates_name_their_path(old: str, path: str) -> None:
    tag = old[1 : old.index(">")]
    data = _replace_text(build_result(FULL_RESULT), old, f"<{tag}>1<")
    error = _error(data)
    assert error.path == path
    assert str(error).startswith(path)


def test_second_result_date_names_index() -> None:
    result = dataclasses.replace(
        FULL_RESULT,
        search=None,
        results=(Qualification(number="1"), Qualification(birthdate="19500401")),
    )
    data = _replace_text(build_result(result), "<Birthdate>19500401<", "<Birthdate>1950<")
    assert (
        _error(data).path == "MessageBody/ResultList/ResultOfQualificationConfirmation[2]/Birthdate"
    )


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE XmlMsg [
  <!ENTITY a "aaaaaaaaaa">
  <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
  <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
]>
<XmlMsg><MessageHeader><ErrorMessage>&c;</ErrorMessage></MessageHeader></XmlMsg>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE XmlMsg [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<XmlMsg><MessageHeader><ErrorMessage>&secret;</ErrorMessage></MessageHeader></XmlMsg>"""

PLAIN_DOCTYPE = b"""<?xml version="1.0"?>
<!DOCTYPE XmlMsg SYSTEM "http://example.invalid/xmlmsg.dtd">
<XmlMsg><MessageHeader/></XmlMsg>"""

PARAMETER_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE XmlMsg [<!ENTITY % p SYSTEM "http://example.invalid/p.dtd"> %p;]>
<XmlMsg/>"""


@pytest.mark.parametrize(
    "data",
    [BILLION_LAUGHS, EXTERNAL_ENTITY, PLAIN_DOCTYPE, PARAMETER_ENTITY],
    ids=["billion-laughs", "external-entity", "doctype", "parameter-entity"],
)
def test_doctype_and_entities_refused(data: bytes) -> None:
    for parse in (parse_result, parse_request):
        assert "DOCTYPE" in str(_error(data, parse))


def test_oversized_input_refused_before_parsing() -> None:
    # would be well-formed, but is never parsed: the size check comes first
    padding = b" " * (MAX_MESSAGE_BYTES + 1 - len(build_result(FULL_RESULT)))
    data = build_result(FULL_RESULT) + padding
    assert len(data) == MAX_MESSAGE_BYTES + 1
    message = str(_error(data))
    assert "大きすぎます" in message and "too large" in message
    # garbage of that size gets the same answer, not a parse error
    assert "too large" in str(_error(b"<" * (MAX_MESSAGE_BYTES + 1)))


def test_input_at_the_limit_is_parsed() -> None:
    data = build_result(FULL_RESULT)
    data += b" " * (MAX_MESSAGE_BYTES - len(data))
    assert parse_result(data) == FULL_RESULT


def test_undeclared_shift_jis_is_refused() -> None:
    data = build_result(FULL_RESULT, "shift_jis")
    undeclared = data[data.index(b"\n") + 1 :]  # drop the declaration: XML then means UTF-8
    message = str(_error(undeclared))
    assert "UTF-8" in message


def test_declared_utf8_but_shift_jis_bytes() -> None:
    data = build_result(FULL_RESULT, "shift_jis").replace(b"Shift_JIS", b"UTF-8", 1)
    assert "UTF-8" in str(_error(data))


def test_declared_shift_jis_but_invalid_bytes() -> None:
    data = build_result(ABNORMAL_RESULT, "shift_jis").replace(b"EQS0001E", b"EQS\x81\x20E")
    assert "Shift_JIS" in str(_error(data))


@pytest.mark.parametrize("encoding", [b"EUC-JP", b"ISO-2022-JP", b"UTF-16", b"bogus"])
def test_unsupported_declared_encoding(encoding: bytes) -> None:
    data = b'<?xml version="1.0" encoding="' + encoding + b'"?><XmlMsg/>'
    message = str(_error(data))
    assert encoding.decode() in message and "UTF-8" in message


@pytest.mark.parametrize(
    "declaration",
    [
        b'<?xml version="2.0"?>',
        b'<?xml encoding="UTF-8"?>',
        b"<?xml version='1.0' encoding=UTF-8?>",
        b"<?xmlversion='1.0'?>",
    ],
)
def test_malformed_declaration(declaration: bytes) -> None:
    assert isinstance(_error(declaration + b"<XmlMsg/>"), MessageError)


@pytest.mark.parametrize(
    "garbage",
    [b"\xff\xfe\x00\x01", b"\x89PNG\r\n\x1a\n", b"\xe3\x81", bytes(range(128, 256))],
)
def test_undeclared_binary_garbage(garbage: bytes) -> None:
    assert isinstance(_error(garbage), MessageError)


def test_utf8_bom_is_accepted() -> None:
    assert parse_result(b"\xef\xbb\xbf" + build_result(FULL_RESULT)) == FULL_RESULT


def test_utf8_bom_with_shift_jis_declaration_is_refused() -> None:
    assert isinstance(
        _error(b"\xef\xbb\xbf" + build_result(FULL_RESULT, "shift_jis")), MessageError
    )


def test_declaration_variants_are_honoured() -> None:
    body = build_result(ABNORMAL_RESULT, "shift_jis").split(b"\n", 1)[1]
    for declaration in (
        b"<?xml version='1.0' encoding='shift_jis'?>",
        b'<?xml version="1.0" encoding="SJIS" standalone="yes"?>',
        b'<?xml  version = "1.0"  encoding = "Windows-31J" ?>',
    ):
        assert parse_result(declaration + b"\n" + body) == ABNORMAL_RESULT


def test_no_declaration_means_utf8() -> None:
    data = build_result(ABNORMAL_RESULT)
    assert parse_result(data.split(b"\n", 1)[1]) == ABNORMAL_RESULT


def test_preschool_other_values_mean_no() -> None:
    result = dataclasses.replace(ABNORMAL_RESULT, results=(Qualification(preschool=True),))
    data = _replace_text(
        build_result(result), "<PreschoolClassification>1<", "<PreschoolClassification>2<"
    )
    assert parse_result(data).results[0].preschool is False


# ---------------------------------------------------------------- file names


def test_file_names() -> None:
    assert request_file_name("20240401090000001") == "OQSsiquc01req_20240401090000001.xml"
    assert result_file_name("20240401090000001") == "OQSsiquc01res_20240401090000001.xml"
    assert result_file_name("abc-1_2.3", face=True) == "OQSsiquc01res_face_abc-1_2.3.xml"


@pytest.mark.parametrize(
    "file_id", ["", "../etc/passwd", "a/b", "a\\b", ".hidden", "a b", "x" * 101, "ａ"]
)
def test_file_names_refuse_unsafe_ids(file_id: str) -> None:
    with pytest.raises(MessageError):
        request_file_name(file_id)
    with pytest.raises(MessageError):
        result_file_name(file_id, face=True)


def test_sample_file_names_match_their_ids() -> None:
    for path in SAMPLES.glob("OQSsiquc01req_*.xml"):
        assert request_file_name(parse_request(path.read_bytes()).file_id) == path.name
    for path in SAMPLES.glob("OQSsiquc01res_*.xml"):
        result = parse_result(path.read_bytes())
        face = path.name.startswith("OQSsiquc01res_face_")
        assert result_file_name(result.file_id, face=face) == path.name


# ---------------------------------------------------------------- visual confirmation (目視確認)

VISUAL_REQUEST = dataclasses.replace(
    CARD_REQUEST,
    card=CardAuthentication(
        certificate=bytes(range(256)) * 5, nonce=b"", signature=b"", method="visual"
    ),
)


def test_visual_request_round_trips_without_nonce_and_signature() -> None:
    data = build_request(VISUAL_REQUEST)
    assert b"<Certificate>" in data and b"<VerificationMethod>visual<" in data
    assert b"Nonce" not in data and b"Signature" not in data
    assert parse_request(data) == VISUAL_REQUEST


def test_visual_request_may_still_carry_a_nonce() -> None:
    assert CARD_REQUEST.card is not None
    request_ = dataclasses.replace(
        CARD_REQUEST, card=dataclasses.replace(CARD_REQUEST.card, method="visual")
    )
    assert parse_request(build_request(request_)) == request_


@pytest.mark.parametrize("method", ["pin", "face"])
@pytest.mark.parametrize("tag", ["Nonce", "Signature"])
def test_signed_methods_need_nonce_and_signature(method: str, tag: str) -> None:
    data = build_request(VISUAL_REQUEST).decode()
    data = data.replace("<VerificationMethod>visual<", f"<VerificationMethod>{method}<")
    other = "Signature" if tag == "Nonce" else "Nonce"
    data = data.replace("<Certificate>", f"<{other}>AAAA</{other}><Certificate>")
    error = _error(data.encode(), parse_request)
    assert error.path == f"MessageBody/CardAuthenticationInfo/{tag}"
    assert f"MessageBody/CardAuthenticationInfo/{tag} がありません" in str(error)


def test_visual_request_still_needs_the_certificate() -> None:
    data = build_request(VISUAL_REQUEST).decode()
    start = data.index("<Certificate>")
    end = data.index("</Certificate>") + len("</Certificate>")
    error = _error((data[:start] + data[end:]).encode(), parse_request)
    assert error.path == "MessageBody/CardAuthenticationInfo/Certificate"


@pytest.mark.parametrize(
    "card",
    [
        CardAuthentication(b"cert", b"", b"sig", "pin"),
        CardAuthentication(b"cert", b"nonce", b"", "face"),
        CardAuthentication(b"", b"", b"", "visual"),
        CardAuthentication(b"cert", b"", b"", "palm"),
    ],
    ids=["pin-without-nonce", "face-without-signature", "no-certificate", "unknown-method"],
)
def test_build_refuses_card_documents_the_other_side_would_refuse(
    card: CardAuthentication,
) -> None:
    with pytest.raises(MessageError):
        build_request(dataclasses.replace(CARD_REQUEST, card=card))


@pytest.mark.parametrize(
    "text",
    [
        "QUJD\u00e9RA==",  # a Latin letter: b64decode's own ValueError before
        "ＱＵＪＤ",  # full-width base64: not base64
        "QUJD\u3000REVG",  # an ideographic space is not XML whitespace
        "٣٤٥٦",  # Arabic-Indic digits
        "QUJD!",  # ASCII, not base64: binascii.Error, as before
    ],
)
@pytest.mark.parametrize("tag", ["Certificate", "Nonce", "Signature"])
def test_base64_fields_with_foreign_text_are_a_message_error(tag: str, text: str) -> None:
    good = parse_request(_sample("OQSsiquc01req_20240401091500002.xml"))
    assert good.card is not None
    data = _sample("OQSsiquc01req_20240401091500002.xml").decode("utf-8")
    start = data.index(f"<{tag}>") + len(tag) + 2
    end = data.index(f"</{tag}>")
    broken = (data[:start] + text + data[end:]).encode("utf-8")
    with pytest.raises(MessageError, match=f"{tag} is not valid base64"):
        parse_request(broken)
