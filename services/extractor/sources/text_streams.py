"""Open registry files as they are published: plain, ``.gz`` or ``.zip`` (every member)."""

from __future__ import annotations

import gzip
import io
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from .errors import SourceError

_BUFFER = 1 << 20


@dataclass(frozen=True)
class DataFile:
    """One readable member: a plain file, a gzip file, or one member of a zip."""

    path: Path
    member: str | None = None

    @property
    def label(self) -> str:
        return f"{self.path.name}:{self.member}" if self.member else self.path.name

    @property
    def name(self) -> str:
        """The name that says what the file holds (the member's, else the file's)."""
        return Path(self.member).name if self.member else self.path.name

    @contextmanager
    def open_binary(self) -> Iterator[IO[bytes]]:
        if self.member is not None:
            with zipfile.ZipFile(self.path) as zf, zf.open(self.member) as raw:
                yield io.BufferedReader(raw, buffer_size=_BUFFER)  # type: ignore[arg-type]
        elif self.path.suffix.lower() == ".gz":
            with gzip.open(self.path, "rb") as raw:
                yield io.BufferedReader(raw, buffer_size=_BUFFER)  # type: ignore[arg-type]
        else:
            with open(self.path, "rb", buffering=_BUFFER) as raw:
                yield raw

    @contextmanager
    def open_text(self, encoding: str = "utf-8", errors: str = "strict") -> Iterator[IO[str]]:
        with self.open_binary() as raw:
            text = io.TextIOWrapper(raw, encoding=encoding, errors=errors, newline="")
            try:
                yield text
            finally:
                text.detach()


def data_files(path: Path) -> list[DataFile]:
    """The readable members of ``path``: every non-directory member of a zip, else the file itself."""
    if not path.exists():
        raise SourceError(f"file not found: {path}")
    if path.is_dir():
        raise SourceError(f"expected a file, got a directory: {path}")
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            members = [i.filename for i in zf.infolist() if not i.is_dir()]
        if not members:
            raise SourceError(f"empty zip archive: {path}")
        return [DataFile(path, m) for m in sorted(members)]
    return [DataFile(path)]


def sniff_encoding(sample: bytes) -> str:
    """``utf-8`` (BOM tolerated) when the sample decodes as UTF-8, else ``latin-1``."""
    if sample.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(sample) - 4:  # not just a character cut at the end of the sample
            return "latin-1"
    return "utf-8"


def read_head(data: DataFile, size: int = 64 * 1024) -> bytes:
    with data.open_binary() as fh:
        return fh.read(size)
