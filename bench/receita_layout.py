"""What the benches that write Receita Federal CNPJ files share: the value pools of their generated
establishments and the files' line format (``;``-separated, every field quoted, Latin-1)."""

from __future__ import annotations

UFS = ["SP"] * 6 + ["RJ"] * 3 + ["MG"] * 3 + ["RS", "PR", "SC", "BA", "PE", "CE", "GO", "DF", "ES", "PA", "AM"]
CITIES = {"SP": "7107", "RJ": "6001", "MG": "4123", "DF": "9701"}
CNAES = ["6201501", "6202300", "6204000", "4711302", "5611201", "8630503", "7112000", "4120400"]
STREETS = ["DAS FLORES", "PAULISTA", "BRASIL", "SETE DE SETEMBRO", "XV DE NOVEMBRO", "DOM PEDRO II"]
WORDS = ["ALFA", "BETA", "SOLUCOES", "COMERCIO", "SERVICOS", "TECNOLOGIA", "CONSULTORIA", "BRASIL", "NORTE"]


def receita_line(fields: list[str]) -> bytes:
    """One line of a Receita CSV file."""
    return (";".join(f'"{f}"' for f in fields) + "\n").encode("latin-1")
