"""The CNAE tables of the CNPJ folders, read once per change of their files."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

from services.gateway.catalog import _read_cnae_files, cnae_table


def _write(path: Path, rows: list[tuple[str, str]], mtime_ns: int) -> None:
    path.write_bytes("".join(f'"{code}";"{name}"\n' for code, name in rows).encode("latin-1"))
    os.utime(path, ns=(mtime_ns, mtime_ns))


def test_a_cnae_table_is_read_again_only_when_its_files_change(tmp_path: Path) -> None:
    folder = tmp_path / "receita"
    folder.mkdir()
    plain = folder / "Cnaes.csv"
    _write(plain, [("6201501", "Desenvolvimento de programas"), ("4711302", "Comércio varejista")], 10**18)
    with zipfile.ZipFile(folder / "CNAES2.zip", "w") as z:
        z.writestr("F.K03200$Z.D51010.CNAECSV", '"0111301";"Cultivo de arroz"\n'.encode("latin-1"))
    first = cnae_table(folder)
    assert first == _read_cnae_files(sorted(folder.iterdir())) == {
        "6201501": "Desenvolvimento de programas", "4711302": "Comércio varejista", "0111301": "Cultivo de arroz"}

    # same name, size and mtime: the table kept is served, the file is not read again
    _write(plain, [("6201501", "Desenvolvimento de PROGRAMAS"), ("4711302", "Comércio varejista")], 10**18)
    assert cnae_table(folder) is first
    # a new mtime (a new Receita release copied over it): read again
    os.utime(plain, ns=(10**18 + 1, 10**18 + 1))
    assert cnae_table(folder)["6201501"] == "Desenvolvimento de PROGRAMAS"
    # a file gone: read again
    (folder / "CNAES2.zip").unlink()
    assert "0111301" not in cnae_table(folder)
