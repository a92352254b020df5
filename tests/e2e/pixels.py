"""Pixels of a Playwright screenshot (PNG), without an imaging library: 8-bit RGB(A),
not interlaced, which is what Chromium writes. Meant for small clips."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import Any


def decode_png(data: bytes) -> tuple[int, int, list[tuple[int, int, int]]]:
    """(width, height, RGB pixels row by row)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat = 8, b""
    width = height = channels = 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and interlace == 0 and colour in (2, 6), (depth, colour, interlace)
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
    raw = zlib.decompress(idat)
    stride = width * channels
    rows: list[bytearray] = []
    prior = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = prior[i]
            corner = prior[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 255
            elif kind == 2:
                line[i] = (line[i] + up) & 255
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 255
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                pred = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[i] = (line[i] + pred) & 255
        rows.append(line)
        prior = line
    pixels = [
        (row[x * channels], row[x * channels + 1], row[x * channels + 2])
        for row in rows
        for x in range(width)
    ]
    return width, height, pixels


def count_near(
    pixels: list[tuple[int, int, int]], colour: tuple[int, int, int], tolerance: int
) -> int:
    """How many pixels are within `tolerance` of `colour` on every channel."""
    return sum(all(abs(p[k] - colour[k]) <= tolerance for k in range(3)) for p in pixels)


def export_png(page: Any, path: Path) -> tuple[int, int, list[tuple[int, int, int]]]:
    """Export the map as a PNG from the Export menu, save it at `path`; its decoded pixels."""
    with page.expect_download(timeout=20_000) as download:
        page.locator('[data-testid="tl-export"]').select_option("png")
    assert download.value.suggested_filename.endswith(".png")
    download.value.save_as(path)
    return decode_png(path.read_bytes())
