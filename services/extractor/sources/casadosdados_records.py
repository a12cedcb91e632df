"""Casa dos Dados payloads -> CompanyRecord: the v5 search JSON and the export CSV.

The export CSV's header is not documented; ``EXPORT_COLUMNS`` is the header we expect (and the
loopback test server writes). It is read through the generic CSV column detection, so variants
such as ``"Razão Social"`` or ``razao_social`` work too.
"""

from __future__ import annotations

from typing import Any

from shared.domain.folding import fold
from shared.events import RunFilters
from shared.registry_ids import clean_cnpj
from shared.schemas import CompanyRecord, Partner

from .filters import BR_STATUS_BY_CODE
from .values import collapse, iso_date, parse_flag, parse_money

EXPORT_COLUMNS = (
    "CNPJ", "Razao Social", "Nome Fantasia", "Situacao Cadastral", "Data Situacao Cadastral",
    "Data Abertura", "CNAE Principal Codigo", "CNAE Principal Descricao", "CNAEs Secundarios",
    "Natureza Juridica Codigo", "Natureza Juridica Descricao", "Porte", "Capital Social", "Matriz Filial",
    "Opcao Simples", "Opcao MEI", "Tipo Logradouro", "Logradouro", "Numero", "Complemento", "Bairro", "CEP",
    "Municipio", "Codigo Municipio IBGE", "UF", "Telefones", "Emails",
)


def search_body(filters: RunFilters) -> dict[str, Any]:
    """The v5 search body for a hunt's filters (paging added by the caller)."""
    body: dict[str, Any] = {}
    if filters.uf:
        body["uf"] = sorted({u.strip().lower() for u in filters.uf if u.strip()})
    names = [c for c in filters.city if c.strip() and not c.strip().isdigit()]
    if names:
        body["municipio"] = sorted({fold(c).lower() for c in names})
    if filters.cnae:
        body["codigo_atividade_principal"] = sorted({"".join(ch for ch in c if ch.isdigit()) for c in filters.cnae})
        body["incluir_atividade_secundaria"] = filters.include_secondary
    statuses = [s.strip().upper() for s in filters.status if s.strip()]
    if statuses and not {"*", "ALL"} & set(statuses):
        body["situacao_cadastral"] = sorted(
            {BR_STATUS_BY_CODE.get(s.zfill(2), s) if s.isdigit() else s for s in statuses}
        )
    return body


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    return collapse(str(value))


def _code(value: Any) -> tuple[str | None, str | None]:
    """``{"codigo": .., "descricao": ..}`` or a bare value -> (code, name)."""
    if isinstance(value, dict):
        return _text(value.get("codigo")), _text(value.get("descricao"))
    return _text(value), None


def _phones(item: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for p in item.get("contato_telefonico") or item.get("telefones") or []:
        if isinstance(p, dict):
            ddd, number = _text(p.get("ddd")), _text(p.get("numero"))
            if number:
                out.append(f"{ddd} {number}" if ddd else number)
            elif _text(p.get("completo")):
                out.append(_text(p.get("completo")) or "")
        elif _text(p):
            out.append(_text(p) or "")
    return out


def _emails(item: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for e in item.get("contato_email") or item.get("emails") or []:
        address = _text(e.get("email")) if isinstance(e, dict) else _text(e)
        if address:
            out.append(address)
    return out


def _partners(item: dict[str, Any]) -> list[Partner]:
    out: list[Partner] = []
    for p in item.get("quadro_societario") or []:
        if not isinstance(p, dict) or not _text(p.get("nome")):
            continue
        kind = str(p.get("tipo") or p.get("identificador_socio") or "").upper()
        out.append(
            Partner(
                name=_text(p.get("nome")) or "",
                kind={"PF": "PF", "2": "PF", "PJ": "PJ", "1": "PJ", "3": "foreign"}.get(kind, "unknown"),
                document=_text(p.get("documento") or p.get("cpf_cnpj")),
                qualification=_text(p.get("qualificacao_socio") or p.get("qualificacao")),
                joined_on=iso_date(_text(p.get("data_entrada_sociedade")) or ""),
                age_band=_text(p.get("faixa_etaria")),
            )
        )
    return out


def _flag(value: Any) -> bool | None:
    if isinstance(value, dict):
        value = value.get("optante")
    if isinstance(value, bool) or value is None:
        return value
    return parse_flag(str(value))


def company_from_search(item: dict[str, Any]) -> CompanyRecord | None:
    """One ``cnpjs[]`` item of a v5 search (``tipo_resultado=completo``); ``None`` without a CNPJ."""
    cnpj = clean_cnpj(str(item.get("cnpj") or ""))
    if not cnpj:
        return None
    situacao = item.get("situacao_cadastral")
    if isinstance(situacao, dict):
        status = _text(situacao.get("situacao_cadastral") or situacao.get("situacao_atual"))
        status_date = iso_date(_text(situacao.get("data")) or "")
        reason = _text(situacao.get("motivo"))
    else:
        status, status_date, reason = _text(situacao), None, None
    main_code, main_name = _code(item.get("atividade_principal") or item.get("cnae_principal"))
    secondary = [
        c for c in (_code(a)[0] for a in (item.get("atividade_secundaria") or item.get("cnaes_secundarios") or []))
        if c
    ]
    nature, nature_name = _code(item.get("natureza_juridica"))
    porte_code, porte_name = _code(item.get("porte_empresa"))
    end = item.get("endereco") or {}
    ibge = end.get("ibge") or {}
    matriz = str(item.get("matriz_filial") or "").upper()
    capital = item.get("capital_social")
    return CompanyRecord.model_validate(
        {
            "lead_key": f"BR:{cnpj}",
            "registry_id": cnpj,
            "source": "casadosdados",
            "legal_name": _text(item.get("razao_social")),
            "trade_name": _text(item.get("nome_fantasia")),
            "status": status.upper() if status else None,
            "status_date": status_date,
            "opened_on": iso_date(_text(item.get("data_abertura")) or ""),
            "activity_main": main_code,
            "activity_main_name": main_name,
            "activities_secondary": secondary,
            "legal_nature": nature,
            "legal_nature_name": nature_name,
            "size": porte_name or porte_code,
            "capital": float(capital) if isinstance(capital, int | float) else parse_money(_text(capital)),
            "head_office": {"MATRIZ": True, "1": True, "FILIAL": False, "2": False}.get(matriz),
            "address": {
                "street_type": _text(end.get("tipo_logradouro")),
                "street": _text(end.get("logradouro")),
                "number": _text(end.get("numero")),
                "complement": _text(end.get("complemento")),
                "district": _text(end.get("bairro")),
                "postal_code": _text(end.get("cep")),
                "city": _text(end.get("municipio")),
                "city_code": _text(ibge.get("codigo_municipio") or end.get("codigo_municipio")),
                "state": (_text(end.get("uf")) or "").upper() or None,
            },
            "phones": _phones(item),
            "emails": _emails(item),
            "website": _text(item.get("site")),
            "simples": _flag(item.get("simples")),
            "mei": _flag(item.get("mei")),
            "partners": _partners(item),
            "extra": {"status_reason": reason} if reason else {},
        }
    )
