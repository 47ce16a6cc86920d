"""Evaluation charts as PNG with no plotting library.

The processing container may run with network isolation and without
matplotlib, so these charts are drawn on a pixel grid and encoded with zlib.
Numbers are drawn with a 3x5 digit font; class names go in evaluation.json.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from pathlib import Path

WHITE, BLACK, GREEN, RED, GREY = (255, 255, 255), (0, 0, 0), (46, 139, 87), (205, 92, 92), (200, 200, 200)
_DIGITS = {  # 3x5 glyphs, rows top to bottom
    "0": ("111", "101", "101", "101", "111"),
    "1": ("010", "110", "010", "010", "111"),
    "2": ("111", "001", "111", "100", "111"),
    "3": ("111", "001", "111", "001", "111"),
    "4": ("101", "101", "111", "001", "001"),
    "5": ("111", "100", "111", "001", "111"),
    "6": ("111", "100", "111", "101", "111"),
    "7": ("111", "001", "010", "010", "010"),
    "8": ("111", "101", "111", "101", "111"),
    "9": ("111", "101", "111", "001", "111"),
    ".": ("000", "000", "000", "000", "010"),
}


class Canvas:
    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.pixels = [[WHITE] * width for _ in range(height)]

    def rect(self, x: int, y: int, w: int, h: int, color) -> None:
        for row in range(max(0, y), min(self.height, y + h)):
            self.pixels[row][max(0, x) : min(self.width, x + w)] = [color] * (min(self.width, x + w) - max(0, x))

    def text(self, x: int, y: int, value: str, color=BLACK, scale: int = 2) -> None:
        for char in value:
            for r, bits in enumerate(_DIGITS.get(char, ("000",) * 5)):
                for c, bit in enumerate(bits):
                    if bit == "1":
                        self.rect(x + c * scale, y + r * scale, scale, scale, color)
            x += 4 * scale

    def save(self, path: str | Path) -> None:
        raw = b"".join(b"\x00" + bytes(v for pixel in row for v in pixel) for row in self.pixels)

        def chunk(kind: bytes, data: bytes) -> bytes:
            return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)
        Path(path).write_bytes(
            b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
        )


def text_width(value: str, scale: int = 2) -> int:
    return len(value) * 4 * scale


def confusion_matrix_png(matrix: Sequence[Sequence[int]], path: str | Path, cell: int = 64) -> None:
    """Rows true, columns predicted; darker blue is more examples; counts printed in each cell."""
    size = len(matrix)
    canvas = Canvas(size * cell + 2, size * cell + 2)
    peak = max(max(row) for row in matrix) or 1
    for r, row in enumerate(matrix):
        for c, count in enumerate(row):
            shade = count / peak
            color = (int(255 - 200 * shade), int(255 - 150 * shade), 255)
            canvas.rect(1 + c * cell, 1 + r * cell, cell - 1, cell - 1, color)
            label = str(count)
            ink = WHITE if shade > 0.6 else BLACK
            canvas.text(1 + c * cell + (cell - text_width(label)) // 2, 1 + r * cell + cell // 2 - 5, label, ink)
    canvas.save(path)


def confidence_histogram_png(
    confidences: Sequence[float],
    correct: Sequence[bool],
    path: str | Path,
    bins: int = 10,
    height: int = 200,
    bar: int = 30,
) -> None:
    """Per confidence bin: correct predictions (green) stacked under wrong ones (red)."""
    counts = [[0, 0] for _ in range(bins)]
    for confidence, ok in zip(confidences, correct, strict=True):
        counts[min(int(confidence * bins), bins - 1)][0 if ok else 1] += 1
    peak = max(sum(c) for c in counts) or 1
    canvas = Canvas(bins * bar + 2, height + 20)
    for i, (good, bad) in enumerate(counts):
        good_h, bad_h = round(height * good / peak), round(height * bad / peak)
        canvas.rect(1 + i * bar, height - good_h, bar - 2, good_h, GREEN)
        canvas.rect(1 + i * bar, height - good_h - bad_h, bar - 2, bad_h, RED)
        canvas.text(1 + i * bar + 2, height + 6, f".{i}" if i else "0", GREY if not (good or bad) else BLACK)
    canvas.save(path)
