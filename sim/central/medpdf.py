"""The simulated central's drug and checkup answers as PDF (FileCategory 1, DOMAIN.md §3).

A small, real PDF 1.4 written by hand: A4 pages of text lines, no new dependency. Japanese text
uses a predefined CJK font that PDF readers supply themselves (HeiseiKakuGo-W5 with the
UniJIS-UCS2-H CMap, Adobe-Japan1; ISO 32000 §9.7.5.2), so nothing is embedded and a file of a
few hundred lines stays a few kilobytes; strings are UTF-16BE hex, so nothing needs escaping.
Characters beyond the BMP (outside JIS, e.g. 𠮷) are drawn as ●, as the official terminal
shows gaiji. Deterministic: the same answer gives the same bytes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sync.medinfo import MedicalInfoResult

PAGE_WIDTH, PAGE_HEIGHT = 595, 842  # A4 in points
MARGIN = 50
FONT_SIZE = 10
LEADING = 14
LINES_PER_PAGE = (PAGE_HEIGHT - 2 * MARGIN) // LEADING
GAIJI = "●"
TITLES = {
    "drug": "薬剤情報 / Drug information",
    "checkup": "特定健診情報 / Specific health checkups",
}


def medinfo_lines(result: MedicalInfoResult) -> list[str]:
    """The answer as lines of text, in the order the XML lists it."""
    lines = [
        TITLES[result.kind],
        f"医療機関コード {result.medical_institution_code}  照会番号 {result.file_id}",
        f"期間 {result.start_month}–{result.end_month}  作成 {result.process_time}",
        "",
    ]
    for month in result.months:
        lines.append(f"■ {month.month[:4]}年{int(month.month[4:])}月")
        for d in month.dispensings:
            lines.append(f"  {_date(d.date)}  {d.institution}  (処方 {d.prescriber})")
            for x in d.drugs:
                lines.append(f"    {x.name}  {x.quantity}{x.unit}  {x.usage}  {x.days}日分")
    for exam in result.exams:
        lines.append(f"■ {_date(exam.date)}  {exam.institution}")
        for item in exam.items:
            ref = f"  (基準 {item.reference})" if item.reference else ""
            lines.append(f"    {item.name}  {item.value} {item.unit}{ref}")
    if not result.months and not result.exams:
        lines.append("この期間の情報はありません / no information in this period")
    return lines


def medinfo_pdf(result: MedicalInfoResult) -> bytes:
    return text_pdf(medinfo_lines(result), title=TITLES[result.kind])


def text_pdf(lines: Sequence[str], *, title: str = "") -> bytes:
    """A PDF of `lines`, LINES_PER_PAGE to an A4 page."""
    pages = [lines[i : i + LINES_PER_PAGE] for i in range(0, len(lines), LINES_PER_PAGE)] or [[]]
    first_page = 5  # 1 catalog, 2 page tree, 3 font, 4 its CID font, then page + content pairs
    kids = " ".join(f"{first_page + 2 * i} 0 R" for i in range(len(pages)))
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode(),
        b"<< /Type /Font /Subtype /Type0 /BaseFont /HeiseiKakuGo-W5 /Encoding /UniJIS-UCS2-H"
        b" /DescendantFonts [4 0 R] >>",
        b"<< /Type /Font /Subtype /CIDFontType0 /BaseFont /HeiseiKakuGo-W5"
        b" /CIDSystemInfo << /Registry (Adobe) /Ordering (Japan1) /Supplement 2 >>"
        b" /FontDescriptor << /Type /FontDescriptor /FontName /HeiseiKakuGo-W5 /Flags 4"
        b" /FontBBox [-92 -250 1010 922] /ItalicAngle 0 /Ascent 752 /Descent -221"
        b" /CapHeight 737 /StemV 114 >> /DW 1000 >>",
    ]
    for i, page in enumerate(pages):
        content = _content(page)
        contents = first_page + 2 * i + 1
        page_dict = (
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {PAGE_WIDTH} {PAGE_HEIGHT}]"
            f" /Resources << /Font << /F1 3 0 R >> >> /Contents {contents} 0 R >>"
        )
        objects.append(page_dict.encode())
        objects.append(b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream")
    info = len(objects) + 1
    objects.append(f"<< /Title {_hex(title)} /Producer (onshi sim) >>".encode())
    return _assemble(objects, info)


def _content(lines: Iterable[str]) -> bytes:
    top = PAGE_HEIGHT - MARGIN - FONT_SIZE
    parts = [f"BT /F1 {FONT_SIZE} Tf {LEADING} TL {MARGIN} {top} Td"]
    parts += [f"{_hex(line, bom=False)} Tj T*" for line in lines]
    parts.append("ET")
    return "\n".join(parts).encode("ascii")


def _hex(text: str, *, bom: bool = True) -> str:
    """A hex string of UTF-16BE code units: with its byte-order mark as a text string (the
    document's title), without one as the codes shown by a UCS2-H font."""
    shown = "".join(c if ord(c) <= 0xFFFF else GAIJI for c in text)
    return "<" + ("FEFF" if bom else "") + shown.encode("utf-16-be").hex().upper() + ">"


def _assemble(objects: Sequence[bytes], info: int) -> bytes:
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info %d 0 R >>\n" % (len(objects) + 1, info)
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def _date(yyyymmdd: str) -> str:
    return f"{yyyymmdd[:4]}/{yyyymmdd[4:6]}/{yyyymmdd[6:8]}" if len(yyyymmdd) == 8 else yyyymmdd
