"""Receita Federal CNPJ open data: file kinds, column positions and fixed code lists.

Layouts from REGISTRIES.md (no header, ``;``, quoted, ISO-8859-1).
"""

from __future__ import annotations

import csv
import re

ESTAB_COLUMNS = (
    "cnpj_basico", "cnpj_ordem", "cnpj_dv", "identificador_matriz_filial", "nome_fantasia",
    "situacao_cadastral", "data_situacao_cadastral", "motivo_situacao_cadastral", "nome_cidade_exterior",
    "pais", "data_inicio_atividade", "cnae_fiscal_principal", "cnae_fiscal_secundaria", "tipo_logradouro",
    "logradouro", "numero", "complemento", "bairro", "cep", "uf", "municipio", "ddd_1", "telefone_1",
    "ddd_2", "telefone_2", "ddd_fax", "fax", "correio_eletronico", "situacao_especial",
    "data_situacao_especial",
)
EMPRESA_COLUMNS = (
    "cnpj_basico", "razao_social", "natureza_juridica", "qualificacao_responsavel", "capital_social",
    "porte_empresa", "ente_federativo_responsavel",
)
SOCIO_COLUMNS = (
    "cnpj_basico", "identificador_socio", "nome_socio_razao_social", "cpf_cnpj_socio", "qualificacao_socio",
    "data_entrada_sociedade", "pais", "representante_legal", "nome_do_representante",
    "qualificacao_representante_legal", "faixa_etaria",
)
SIMPLES_COLUMNS = (
    "cnpj_basico", "opcao_pelo_simples", "data_opcao_simples", "data_exclusao_simples", "opcao_mei",
    "data_opcao_mei", "data_exclusao_mei",
)

# Estabelecimentos positions used on the hot path.
E_BASICO, E_ORDEM, E_DV, E_MATRIZ, E_FANTASIA, E_SITUACAO, E_DATA_SITUACAO, E_MOTIVO = range(8)
E_CIDADE_EXT, E_PAIS, E_INICIO, E_CNAE, E_CNAE_SEC, E_TIPO_LOGR, E_LOGR, E_NUMERO = range(8, 16)
E_COMPL, E_BAIRRO, E_CEP, E_UF, E_MUNICIPIO, E_DDD1, E_TEL1, E_DDD2, E_TEL2 = range(16, 25)
E_DDD_FAX, E_FAX, E_EMAIL, E_SIT_ESPECIAL, E_DATA_SIT_ESPECIAL = range(25, 30)

PORTE = {"00": "NAO INFORMADO", "01": "MICRO EMPRESA", "03": "EMPRESA DE PEQUENO PORTE", "05": "DEMAIS"}
PARTNER_KIND = {"1": "PJ", "2": "PF", "3": "foreign"}
AGE_BAND = {
    "0": "Não se aplica", "1": "Entre 0 a 12 anos", "2": "Entre 13 a 20 anos", "3": "Entre 21 a 30 anos",
    "4": "Entre 31 a 40 anos", "5": "Entre 41 a 50 anos", "6": "Entre 51 a 60 anos",
    "7": "Entre 61 a 70 anos", "8": "Entre 71 a 80 anos", "9": "Maiores de 80 anos",
}

# File kind by (lower-case) name: the published zip names (Estabelecimentos3.zip) and the
# official member names inside them (K3241.K03200Y3.D40511.ESTABELE, F.K03200$W.SIMPLES.CSV...).
_KINDS = (
    ("estabelecimentos", re.compile(r"^estabelecimento|estabele")),
    ("empresas", re.compile(r"^empresa|emprecsv")),
    ("socios", re.compile(r"^socio|sociocsv")),
    ("simples", re.compile(r"^simples|\.simples\.")),
    ("cnaes", re.compile(r"^cnae|cnaecsv")),
    ("municipios", re.compile(r"^munic|municcsv")),
    ("naturezas", re.compile(r"^natur|natjucsv")),
    ("qualificacoes", re.compile(r"^qualif|qualscsv")),
    ("paises", re.compile(r"^pais|paiscsv")),
    ("motivos", re.compile(r"^motiv|moticsv")),
)


def file_kind(name: str) -> str | None:
    """Which Receita file a name is (``None`` for the tax-regime files and anything else)."""
    lower = name.lower()
    for kind, pattern in _KINDS:
        if pattern.search(lower):
            return kind
    return None


def split_line(line: str, expected: int) -> list[str]:
    """Fields of one record: a fast split for the usual fully-quoted line, ``csv`` otherwise."""
    if line.count('"') == 2 * expected and line[:1] == '"' and line[-1:] == '"':
        return line[1:-1].split('";"')
    try:
        return next(csv.reader([line], delimiter=";", quotechar='"'), [])
    except csv.Error:  # a stray quote took in the next line: no columns to trust (a malformed row)
        return []
