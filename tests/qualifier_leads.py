"""A lead and its site as the qualifier reads them (a LeadEnriched's lead and enrichment), for tests."""

from __future__ import annotations

from shared.schemas import Address, CleanedLead, CompanyRecord, Email, Enrichment, Phone, Reason, ScoredLead, Technology


def lead(*, activity: str = "6201501", uf: str = "SP", email: str = "contato@acme.com.br", free: bool = False,
         whatsapp: bool = True, status: str = "ATIVA", name: str = "ACME SISTEMAS LTDA",
         country: str = "BR", key: str = "BR:11222333000181") -> ScoredLead:
    company = CompanyRecord(lead_key=key, registry_id=key.split(":")[1], source="csv",
                            legal_name=name, trade_name="Acme", activity_main=activity, status=status,
                            opened_on="2018-03-01", capital=250_000.0, size="EMPRESA DE PEQUENO PORTE",
                            country=country, address=Address(city="CAMPINAS", state=uf))
    cleaned = CleanedLead(company=company, phones=[Phone(e164="+5519987654321", kind="mobile", whatsapp=whatsapp)],
                          emails=[Email(address=email, domain=email.split("@")[1], free_mail=free)])
    return ScoredLead(lead=cleaned, score=80, reasons=[Reason(code="icp_activity_main", points=30)])


def site(text: str = "", techs: tuple[str, ...] = (), status: str = "ok",
         key: str = "BR:11222333000181") -> Enrichment:
    return Enrichment(lead_key=key, status=status, site="https://acme.com.br/", domain="acme.com.br",
                      verified=True, title="Acme | Software sob medida", description="Sistemas para empresas",
                      text_excerpt=text, technologies=[Technology(name=t) for t in techs],
                      emails=["vendas@acme.com.br"], socials={"linkedin": "https://linkedin.com/company/acme"})
