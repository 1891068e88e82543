"""A simulated ESC/POS receipt printer: a TCP server that keeps the bytes of each ticket and
draws it as a PNG (Pillow, a dependency of python-escpos) with a minimal ESC/POS interpreter.

The interpreter knows what the reception ticket uses and skips the rest by length: ESC @,
ESC ! / GS ! (sizes), ESC a (alignment), ESC E / - / M / t / { / d, GS b / B, GS V (cut: the
ticket ends), FS C / & / . (kanji mode, Shift_JIS), and DLE EOT n (real-time status: answered
at once with 0x12, "online"). Text outside kanji mode is read as ASCII.

`stop()` closes the listener and the connections (unplugged); `start()` again is the replug.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from pathlib import Path

from sim.tcpsim import TcpSimulator

ESC, GS, FS, DLE, LF = 0x1B, 0x1D, 0x1C, 0x10, 0x0A
STATUS_ONLINE = b"\x12"
PAPER_PX = 576  # 80 mm paper at 203 dpi
FONT_FILES = (
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/opentype/ipafont-gothic/ipag.ttf"),
)


@dataclass(frozen=True)
class PrintedLine:
    text: str
    align: str  # "left", "center", "right"
    width: int  # character width multiple (1, 2, …)
    height: int


@dataclass
class Interpreter:
    """Consumes ESC/POS bytes; keeps incomplete commands for the next feed."""

    lines: list[PrintedLine] = field(default_factory=list)
    status_requests: int = 0
    cuts: int = 0
    _pending: bytearray = field(default_factory=bytearray)
    _text: bytearray = field(default_factory=bytearray)
    _decoded: list[str] = field(default_factory=list)
    _kanji: bool = False
    _align: str = "left"
    _width: int = 1
    _height: int = 1

    def feed(self, data: bytes) -> tuple[bytes, list[list[PrintedLine]]]:
        """Returns (the answer to send back, the tickets finished by a cut)."""
        self._pending += data
        answer = bytearray()
        tickets: list[list[PrintedLine]] = []
        buf = self._pending
        i = 0
        while i < len(buf):
            b = buf[i]
            size = self._command_size(buf, i)
            if size == 0:
                break  # incomplete: wait for more
            if b == LF:
                self._line()
            elif b in (ESC, GS, FS, DLE):
                cmd = bytes(buf[i : i + size])
                if b == DLE and cmd[1] == 0x04:
                    self.status_requests += 1
                    answer += STATUS_ONLINE
                elif self._apply(cmd):
                    if self._text or self._decoded:
                        self._line()
                    tickets.append(self.lines)
                    self.lines = []
            else:
                self._text.append(b)
            i += size
        del buf[:i]
        return bytes(answer), tickets

    @staticmethod
    def _command_size(buf: bytearray, i: int) -> int:
        b = buf[i]
        if b not in (ESC, GS, FS, DLE):
            return 1
        if i + 1 >= len(buf):
            return 0
        second = buf[i + 1]
        if (b == ESC and second == ord("@")) or (b == FS and second in (ord("&"), ord("."))):
            size = 2
        elif b == GS and second == ord("V"):
            if i + 2 >= len(buf):
                return 0
            size = 4 if buf[i + 2] in (65, 66) else 3
        else:
            size = 3
        return size if i + size <= len(buf) else 0

    def _apply(self, cmd: bytes) -> bool:
        """One command; True when it cuts the paper."""
        head, arg = cmd[:2], cmd[2] if len(cmd) > 2 else 0
        if head == b"\x1b@":
            self._kanji, self._align, self._width, self._height = False, "left", 1, 1
        elif head == b"\x1ba":
            self._align = {0: "left", 1: "center", 2: "right"}.get(arg % 48, "left")
        elif head == b"\x1b!":
            self._width = 2 if arg & 0x20 else 1
            self._height = 2 if arg & 0x10 else 1
        elif head == b"\x1d!":
            self._width, self._height = (arg >> 4) + 1, (arg & 0x0F) + 1
        elif head == b"\x1c&":
            self._flush()
            self._kanji = True
        elif head == b"\x1c.":
            self._flush()
            self._kanji = False
        elif head == b"\x1dV":
            self.cuts += 1
            return True
        return False

    def _flush(self) -> None:
        # Kanji mode's bytes are Shift_JIS; outside it the ticket sends ASCII.
        self._decoded.append(
            bytes(self._text).decode("cp932" if self._kanji else "ascii", "replace")
        )
        self._text.clear()

    def _line(self) -> None:
        self._flush()
        text = "".join(self._decoded)
        self._decoded.clear()
        self.lines.append(PrintedLine(text, self._align, self._width, self._height))


def render_text(lines: list[PrintedLine], columns: int = 32) -> str:
    out = []
    for line in lines:
        text = line.text
        if line.align == "center":
            text = text.center(columns // line.width)
        elif line.align == "right":
            text = text.rjust(columns // line.width)
        out.append(text.rstrip())
    return "\n".join(out) + "\n"


def render_png(lines: list[PrintedLine], path: Path) -> None:
    from PIL import Image, ImageDraw, ImageFont

    def font(px: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
        for candidate in FONT_FILES:
            if candidate.exists():
                return ImageFont.truetype(str(candidate), px)
        return ImageFont.load_default(px)

    base = 28
    heights = [base * line.height + 12 for line in lines]
    image = Image.new("L", (PAPER_PX, sum(heights) + 40), 255)
    draw = ImageDraw.Draw(image)
    y = 20
    for line, h in zip(lines, heights, strict=True):
        f = font(base * max(line.width, line.height))
        width = draw.textlength(line.text, font=f)
        x = {"center": (PAPER_PX - width) / 2, "right": PAPER_PX - width - 16}.get(line.align, 16)
        draw.text((x, y), line.text, fill=0, font=f)
        y += h
    image.save(path)


class SimPrinter(TcpSimulator):
    def __init__(self, host: str = "127.0.0.1", port: int = 0, out: Path | None = None) -> None:
        super().__init__(host, port)
        self.out = out
        self.tickets: list[list[PrintedLine]] = []
        self.raw: list[bytes] = []  # the bytes of each ticket, as received
        self.status_requests = 0

    def wait_for_tickets(self, count: int, timeout_s: float = 10.0) -> bool:
        with self._lock:
            return self._lock.wait_for(lambda: len(self.tickets) >= count, timeout_s)

    def _keep(self, lines: list[PrintedLine], raw: bytes) -> None:
        with self._lock:
            self.tickets.append(lines)
            self.raw.append(raw)
            number = len(self.tickets)
            self._lock.notify_all()
        if self.out is not None:
            self.out.mkdir(parents=True, exist_ok=True)
            stem = self.out / f"ticket-{number:04d}"
            stem.with_suffix(".bin").write_bytes(raw)
            stem.with_suffix(".txt").write_text(render_text(lines), encoding="utf-8")
            render_png(lines, stem.with_suffix(".png"))

    def serve(self, connection: socket.socket) -> None:
        interpreter = Interpreter()
        raw = bytearray()
        while data := connection.recv(4096):
            raw += data
            answer, tickets = interpreter.feed(data)
            if answer:
                connection.sendall(answer)
            with self._lock:
                self.status_requests = max(self.status_requests, interpreter.status_requests)
            for lines in tickets:
                cut = raw.find(b"\x1dV")
                end = cut + (4 if raw[cut + 2] in (65, 66) else 3)
                ticket, raw[:] = bytes(raw[:end]), raw[end:]
                self._keep(lines, ticket.replace(b"\x10\x04\x01", b""))
