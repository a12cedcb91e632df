"""The rule-based qualifier: fit, pain / need and data quality from a lead's registry record and its site
against the ICP's keyword lists, tags and a snapshot made of facts; profiles without the lists stay valid."""

from __future__ import annotations

from datetime import date

import pytest

from services.enricher.logic import text_excerpt
from services.qualifier.qualifying import lead_facts, qualify
from shared.domain.icp import IcpProfile, load_icp
from shared.domain.icp_profiles import validate_profile
from tests.qualifier_leads import lead, site

AS_OF = date(2026, 11, 1)


def test_pain_hiring_and_wanted_technologies_on_the_site_raise_the_pain_score() -> None:
    icp = load_icp("software-b2b")
    text = ("Integração com o seu ERP, migração de sistemas legados e automação de planilhas. "
            "Estamos contratando: veja as vagas em Trabalhe conosco.")
    q = qualify(lead_facts(lead(), site(text, ("HubSpot", "WordPress"))), icp, AS_OF)
    assert q.fit == 50  # targeted activity, region, capital and age in the bands, keyword, active, verified site
    assert q.pain == 18 + 12 + 4  # three or more pains (capped), two hiring words, one wanted technology
    assert q.data_quality == 10
    assert q.score == q.fit + q.pain + q.data_quality == 94
    assert {"target-activity", "pain", "hiring", "uses:HubSpot", "corporate-email", "whatsapp"} <= set(q.tags)
    assert any(s.startswith("hiring: vagas") for s in q.signals)


def test_a_site_without_signals_and_an_avoided_technology_gives_no_pain() -> None:
    q = qualify(lead_facts(lead(), site("Bem-vindo ao nosso site.", ("Wix",))), load_icp("software-b2b"), AS_OF)
    assert q.pain == 0 and "avoid:Wix" in q.tags


def test_without_a_site_only_registry_facts_count() -> None:
    facts = lead_facts(lead(email="acme@gmail.com", free=True, whatsapp=False), site(status="no_site"))
    q = qualify(facts, load_icp("software-b2b"), AS_OF)
    assert q.pain == 0 and q.fit == 46  # all but a verified site (its keyword is in the name: "sistemas")
    assert q.data_quality == 2  # a phone; a free e-mail gives nothing
    assert {"no-site", "free-email"} <= set(q.tags) and "no verified site" in q.snapshot


def test_an_excluded_activity_leaves_no_fit_and_an_inactive_company_loses_its_points() -> None:
    icp = load_icp("software-b2b")
    assert qualify(lead_facts(lead(activity="8411600"), site()), icp, AS_OF).fit == 0
    inactive = qualify(lead_facts(lead(status="BAIXADA"), site()), icp, AS_OF)
    assert inactive.fit == 44 and "inactive" in inactive.tags


def test_french_sites_are_read_with_the_french_words() -> None:
    french = lead(uf="75", country="FR", name="ACME LOGICIEL SAS", activity="62.01Z")
    text = "Nous recrutons ! Automatisation et intégration de vos outils, croissance de vos équipes."
    q = qualify(lead_facts(french, site(text)), load_icp("software-b2b"), AS_OF)
    assert "hiring" in q.tags and q.pain == 18 + 6
    assert "€ 250 thousand" in q.snapshot


def test_the_snapshot_is_made_of_the_lead_s_facts() -> None:
    q = qualify(lead_facts(lead(), site("Integração de APIs", ("RD Station",))), load_icp("software-b2b"), AS_OF)
    assert q.snapshot.startswith("Acme (ACME SISTEMAS LTDA): activity 6201501 in Campinas/SP. 9 years old, "
                                 "empresa de pequeno porte, capital R$ 250 thousand. site acme.com.br runs RD Station")
    assert "reachable by corporate e-mail, phone, WhatsApp" in q.snapshot and "integracao" in q.snapshot


@pytest.mark.parametrize("name", ["software-b2b", "local-retail-ecommerce"])
def test_the_templates_carry_keyword_lists_and_an_old_profile_stays_valid(name: str) -> None:
    icp = load_icp(name)
    assert icp.pain_keywords and icp.hiring_keywords and icp.technologies_wanted
    old = validate_profile({"name": "old", "target_activities": ["62"], "keywords": ["software"]})
    assert isinstance(old, IcpProfile) and old.pain_keywords == [] and old.technologies_avoided == []
    q = qualify(lead_facts(lead(), site("Integração, vagas")), old, AS_OF)
    assert q.pain == 0 and q.fit > 0


def test_the_same_facts_give_the_same_content_hash_and_the_site_text_changes_it() -> None:
    a, b = lead_facts(lead(), site("x")), lead_facts(lead(), site("x"))
    assert a.content_hash() == b.content_hash() != lead_facts(lead(), site("y")).content_hash()


def test_the_enricher_keeps_a_bounded_excerpt_without_json_ld() -> None:
    page = '{"@context": "https://schema.org", "name": "Acme"} Acme   Software\n sob medida ' + "palavra " * 1000
    excerpt = text_excerpt(page)
    assert excerpt is not None and excerpt.startswith("Acme Software sob medida palavra")
    assert len(excerpt) <= 2000 and not excerpt.endswith(" ") and "@context" not in excerpt
    assert text_excerpt("   ") is None
