"""A video for Chromium's fake camera (`--use-file-for-fake-video-capture=FILE`): YUV4MPEG2 frames of a ticket's
QR code and of an empty view, written without Pillow or ffmpeg (grey-scale: the chroma planes are neutral)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import segno

WHITE, BLACK, EMPTY = 235, 16, 128
QUIET_ZONE = 4  # modules of white around the code, as ISO/IEC 18004 asks


def qr_frame(code: str, width: int, height: int) -> bytes:
    """One luma plane: the code's QR symbol (as the ticket's QR image draws it), centred on white."""
    matrix = segno.make(code, error="m").matrix
    modules = len(matrix) + 2 * QUIET_ZONE
    scale = max(1, int(min(width, height) * 0.9) // modules)
    size = modules * scale
    assert size <= min(width, height), (code, width, height)
    left, top = (width - size) // 2, (height - size) // 2
    blank = bytes([WHITE]) * width
    rows = [blank] * top
    for module_row in (
        [[0] * modules] * QUIET_ZONE
        + [[0] * QUIET_ZONE + list(row) + [0] * QUIET_ZONE for row in matrix]
        + [[0] * modules] * QUIET_ZONE
    ):
        line = bytes([WHITE]) * left + b"".join(bytes([BLACK if dark else WHITE]) * scale for dark in module_row)
        line += bytes([WHITE]) * (width - len(line))
        rows += [line] * scale
    rows += [blank] * (height - len(rows))
    return b"".join(rows)


def empty_frame(width: int, height: int) -> bytes:
    return bytes([EMPTY]) * (width * height)


def write_y4m(path: Path, frames: Iterable[bytes], width: int, height: int, fps: int) -> Path:
    """4:2:0 frames (Chromium's file capture reads 4:2:0 only); Chromium plays the file in a loop."""
    assert width % 2 == 0 and height % 2 == 0
    chroma = bytes([128]) * ((width // 2) * (height // 2))
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for luma in frames:
            assert len(luma) == width * height
            out.write(b"FRAME\n" + luma + chroma + chroma)
    return path
