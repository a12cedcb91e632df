"""Which CSV column holds which field: header aliases (Portuguese, English, French).

Canonical names are the Receita ones (``cnpj``, ``razao_social``, ``municipio``...). A header is
matched after folding (accents and case dropped, any non-alphanumeric run turned into ``_``), so
``"Razão Social"``, ``RAZAO_SOCIAL`` and ``razao-social`` are the same column.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from shared.domain.folding import fold

ALIASES: dict[str, tuple[str, ...]] = {
    "cnpj": ("cnpj", "cnpj_completo", "numero_cnpj", "documento", "cnpj_cpf", "tax_id", "registry_id"),
    "siret": ("siret",),
    "siren": ("siren",),
    "country": ("country", "pais_codigo", "country_code"),
    "razao_social": (
        "razao_social", "razao", "nome_empresarial", "legal_name", "company_name", "company",
        "denominacao", "denomination", "denominationunitelegale", "raison_sociale", "nome", "name",
        "empresa",
    ),
    "nome_fantasia": ("nome_fantasia", "fantasia", "trade_name", "enseigne", "nom_commercial", "brand"),
    "situacao_cadastral": (
        "situacao_cadastral", "descricao_situacao_cadastral", "situacao", "status", "etat_administratif",
        "etatadministratifetablissement",
    ),
    "data_situacao_cadastral": ("data_situacao_cadastral", "data_situacao", "status_date"),
    "data_inicio_atividade": (
        "data_inicio_atividade", "data_abertura", "data_de_abertura", "abertura", "opened_on",
        "founded", "date_creation", "datecreationetablissement",
    ),
    "cnae_fiscal_principal": (
        "cnae_fiscal_principal", "cnae_fiscal", "cnae_principal", "cnae_principal_codigo",
        "codigo_atividade_principal", "atividade_principal", "cnae", "activity", "activity_code",
        "naf", "code_naf", "ape", "activiteprincipaleetablissement",
    ),
    "cnae_descricao": (
        "cnae_fiscal_descricao", "cnae_principal_descricao", "descricao_atividade_principal",
        "cnae_descricao", "activity_name", "libelle_naf",
    ),
    "cnae_fiscal_secundaria": (
        "cnae_fiscal_secundaria", "cnaes_secundarios", "cnae_secundaria", "cnae_secundarios",
        "cnaes_secundarias", "atividades_secundarias", "cnae_fiscal_secundario", "secondary_activities",
    ),
    "natureza_juridica": (
        "natureza_juridica", "codigo_natureza_juridica", "natureza_juridica_codigo", "legal_nature",
        "forme_juridique", "categoriejuridiqueunitelegale",
    ),
    "natureza_juridica_descricao": ("natureza_juridica_descricao", "descricao_natureza_juridica"),
    "porte_empresa": ("porte_empresa", "porte", "descricao_porte", "size", "company_size"),
    "capital_social": ("capital_social", "capital"),
    "opcao_simples": ("opcao_simples", "opcao_pelo_simples", "simples", "optante_simples", "simples_nacional"),
    "opcao_mei": ("opcao_mei", "opcao_pelo_mei", "mei", "optante_mei"),
    "matriz_filial": ("identificador_matriz_filial", "matriz_filial", "head_office", "siege"),
    "tipo_logradouro": ("tipo_logradouro", "descricao_tipo_de_logradouro", "street_type", "type_voie"),
    "logradouro": ("logradouro", "endereco", "address", "street", "rua", "adresse", "libelle_voie"),
    "numero": ("numero", "number", "numero_voie", "num"),
    "complemento": ("complemento", "complement", "complement_adresse"),
    "bairro": ("bairro", "district", "neighborhood", "neighbourhood", "quartier"),
    "cep": ("cep", "codigo_postal", "postal_code", "zip", "zip_code", "code_postal"),
    "uf": ("uf", "estado", "state", "sigla_uf", "departement", "department"),
    "municipio": ("municipio", "cidade", "city", "nome_municipio", "commune", "ville", "libelle_commune"),
    "codigo_municipio": (
        "codigo_municipio", "codigo_municipio_ibge", "city_code", "code_commune", "ibge",
    ),
    "ddd_1": ("ddd_1", "ddd1", "ddd"),
    "telefone_1": ("telefone_1", "telefone1"),
    "ddd_2": ("ddd_2", "ddd2"),
    "telefone_2": ("telefone_2", "telefone2"),
    "ddd_fax": ("ddd_fax",),
    "fax": ("fax",),
    "telefone": (
        "telefone", "telefones", "ddd_telefone_1", "ddd_telefone_2", "phone", "phones", "tel",
        "telephone", "celular", "contato_telefonico", "whatsapp",
    ),
    "email": ("correio_eletronico", "email", "emails", "e_mail", "courriel", "contato_email"),
    "site": ("site", "website", "url", "homepage", "site_web", "web"),
}

MULTI = frozenset({"telefone"})  # several columns may feed these (ddd_telefone_1, ddd_telefone_2)
_SEPARATORS = re.compile(r"[^0-9a-z]+")
_LOOKUP: dict[str, str] = {alias: canon for canon, aliases in ALIASES.items() for alias in aliases}


def header_key(name: str) -> str:
    """``"Razão Social "`` -> ``razao_social``."""
    return _SEPARATORS.sub("_", fold(name).lower()).strip("_")


def detect_columns(header: list[str], overrides: Mapping[str, str] | None = None) -> dict[str, list[int]]:
    """Canonical field -> column indexes. ``overrides`` maps a canonical field to a header name."""
    keys = [header_key(h) for h in header]
    found: dict[str, list[int]] = {}
    for idx, key in enumerate(keys):
        canon = _LOOKUP.get(key)
        if canon is None:
            continue
        if canon in found and canon not in MULTI:
            continue  # first column wins
        found.setdefault(canon, []).append(idx)
    for canon, column in (overrides or {}).items():
        canon_key = header_key(canon)
        target = _LOOKUP.get(canon_key, canon_key)
        if target not in ALIASES:
            raise KeyError(f"unknown field {canon!r} in column mapping; known: {', '.join(sorted(ALIASES))}")
        wanted = header_key(column)
        matches = [i for i, k in enumerate(keys) if k == wanted or header[i] == column]
        if not matches:
            raise LookupError(f"column {column!r} (mapped to {target}) is not in the header {header}")
        found[target] = matches[:1]
    return found
