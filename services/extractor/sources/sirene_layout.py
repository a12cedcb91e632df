"""SIRENE stock file layouts: column names by field, for the establishment and legal-unit files.

Columns are read by (stripped) header name, never by position: the 2019 layout has 48
establishment columns, today's 54 (``activitePrincipaleNAF25Etablissement`` and friends were
added). The 2017 "geo-sirene" files (``SIREN,NIC,NOMEN_LONG,APET700...``) are read too.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import SourceError


@dataclass(frozen=True)
class Layout:
    name: str
    fields: dict[str, str]  # our field -> header name
    required: tuple[str, ...]  # header names that must be present
    all_active: bool = False  # legacy stocks only list active establishments
    inline_name: bool = False  # legal name in the establishment row itself


STOCK = Layout(
    name="StockEtablissement",
    fields={
        "siren": "siren",
        "nic": "nic",
        "siret": "siret",
        "diffusion": "statutDiffusionEtablissement",
        "created": "dateCreationEtablissement",
        "workforce": "trancheEffectifsEtablissement",
        "head_office": "etablissementSiege",
        "complement": "complementAdresseEtablissement",
        "number": "numeroVoieEtablissement",
        "number_suffix": "indiceRepetitionEtablissement",
        "street_type": "typeVoieEtablissement",
        "street": "libelleVoieEtablissement",
        "postal_code": "codePostalEtablissement",
        "city": "libelleCommuneEtablissement",
        "city_code": "codeCommuneEtablissement",
        "status_date": "dateDebut",
        "status": "etatAdministratifEtablissement",
        "sign": "enseigne1Etablissement",
        "usual_name": "denominationUsuelleEtablissement",
        "activity": "activitePrincipaleEtablissement",
        "nomenclature": "nomenclatureActivitePrincipaleEtablissement",
        "activity_naf25": "activitePrincipaleNAF25Etablissement",
    },
    required=(
        "siren", "nic", "siret", "etatAdministratifEtablissement", "activitePrincipaleEtablissement",
        "codeCommuneEtablissement",
    ),
)

GEO_SIRENE_2017 = Layout(
    name="geo-sirene 2017",
    fields={
        "siren": "SIREN",
        "nic": "NIC",
        "legal_name": "NOMEN_LONG",
        "sign": "ENSEIGNE",
        "created": "DCRET",
        "workforce": "TEFET",
        "head_office": "SIEGE",
        "complement": "L3_NORMALISEE",
        "number": "NUMVOIE",
        "number_suffix": "INDREP",
        "street_type": "TYPVOIE",
        "street": "LIBVOIE",
        "postal_code": "CODPOS",
        "city": "LIBCOM",
        "department": "DEPET",
        "commune": "COMET",
        "activity": "APET700",
        "activity_name": "LIBAPET",
        "legal_nature": "NJ",
        "legal_nature_name": "LIBNJ",
        "company_category": "CATEGORIE",
        "phone": "TEL",
    },
    required=("SIREN", "NIC", "APET700", "DEPET", "COMET"),
    all_active=True,
    inline_name=True,
)

UNITE_LEGALE_FIELDS = {
    "siren": "siren",
    "denomination": "denominationUniteLegale",
    "last_name": "nomUniteLegale",
    "usage_name": "nomUsageUniteLegale",
    "first_name": "prenomUsuelUniteLegale",
    "first_name_1": "prenom1UniteLegale",
    "acronym": "sigleUniteLegale",
    "legal_nature": "categorieJuridiqueUniteLegale",
    "company_category": "categorieEntreprise",
    "status": "etatAdministratifUniteLegale",
}


def choose_layout(header: list[str], label: str) -> Layout:
    """The layout whose required columns are all in ``header``, else a clear ``SourceError``."""
    names = set(header)
    for layout in (STOCK, GEO_SIRENE_2017):
        if all(col in names for col in layout.required):
            return layout
    layout = GEO_SIRENE_2017 if "SIREN" in names and "NIC" in names else STOCK
    missing = [c for c in layout.required if c not in names]
    raise SourceError(
        f"sirene {label}: missing required column(s) {', '.join(missing)} "
        f"for the {layout.name} layout (header has {len(header)} columns)"
    )


def column_index(header: list[str], fields: dict[str, str]) -> dict[str, int]:
    position = {name: i for i, name in enumerate(header)}
    return {field: position[col] for field, col in fields.items() if col in position}
