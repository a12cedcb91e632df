"""The demo world's hidden propensity and simulated outcomes.

Each company of the demo world (``sample_data.generate_world``) has a hidden propensity to answer
a contact: a deterministic function of its traits, only partly what the ICP score sees. The ICP
profile rewards the activity, contacts and a site's technologies; the hidden propensity also
depends on the age (companies of 3-12 years answer best), the capital band (mid-sized more than
the very large), the size, the region (São Paulo's interior answers more, Rio less), marketing
automation and live chat on the site (a team that sells), a Wix site (less), and a free e-mail
(less). Nothing here changes the world's files: the propensity is read from its rows and sites.

``simulate_funnel`` turns contacts into funnel histories (contacted, then replied / meeting / won
with the propensity, else lost or no reply), seeded, with times from a given start: the outcomes
the ranker learns from. ``more_worlds`` makes bigger worlds from the same machinery (one world per
seed, the companies of all of them, duplicate ids dropped).
"""

from __future__ import annotations

import csv
import json
import math
import random
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from pathlib import Path

from hunter.demo.sample_data import COLUMNS, DATA_DIR, World, generate_world

REFERENCE_YEAR = 2026
INTERIOR_SP = frozenset({"CAMPINAS", "RIBEIRAO PRETO", "SOROCABA", "SAO JOSE DOS CAMPOS"})
KIND_OF_CNAE_PREFIX = {"62": 0.7, "63": 0.7, "47": 0.1, "73": 0.2, "70": 0.2, "85": 0.0, "74": 0.0, "69": -0.8}
MARKETING = frozenset({"RD Station", "HubSpot"})
CHAT = frozenset({"JivoChat", "Tawk.to", "Zendesk"})
BASE_LOGIT = -2.3


def _capital(text: str) -> float:
    try:
        return float(text.replace(".", "").replace(",", "."))
    except ValueError:
        return 0.0


def hidden_logit(row: dict[str, str], site: dict | None) -> float:
    """Log-odds that the company answers a contact (see the module's docstring)."""
    z = BASE_LOGIT
    z += KIND_OF_CNAE_PREFIX.get(row["cnae_fiscal_principal"][:2], -0.2)
    start = row.get("data_inicio_atividade") or ""
    if start[:4].isdigit():
        age = REFERENCE_YEAR - int(start[:4])
        z += 0.9 if 3 <= age <= 12 else (-0.7 if age < 3 else -0.2)
    capital = _capital(row.get("capital_social") or "")
    z += 0.6 if 100_000 <= capital <= 1_200_000 else (-0.6 if capital > 1_200_000 else 0.0)
    z += {"03": 0.5, "05": -0.4}.get(row.get("porte_empresa") or "", 0.0)
    city = row.get("municipio") or ""
    z += 0.7 if city in INTERIOR_SP else (-0.5 if row.get("uf") == "RJ" else 0.0)
    if row.get("situacao_cadastral") != "ATIVA":
        z -= 3.0
    email = (row.get("correio_eletronico") or "").strip().lower()
    if any(email.endswith("@" + d) for d in ("gmail.com", "hotmail.com", "bol.com.br", "uol.com.br",
                                             "yahoo.com.br", "outlook.com")):
        z -= 0.4
    if len([c for c in (row.get("cnae_fiscal_secundaria") or "").split(",") if c]) >= 2:
        z += 0.3
    if site is not None:
        techs = set(site.get("technologies") or [])
        z += 1.1 if techs & MARKETING else 0.0
        z += 0.6 if techs & CHAT else 0.0
        z -= 0.6 if "Wix" in techs else 0.0
    return z


def hidden_propensity(row: dict[str, str], site: dict | None) -> float:
    return 1.0 / (1.0 + math.exp(-hidden_logit(row, site)))


def company_sites(world: World) -> dict[str, dict]:
    """The company's own site per CNPJ (directories and decoys left out)."""
    return {s["cnpj"]: s for s in world.sites if s.get("role") == "company" and s.get("cnpj")}


def propensities(world: World) -> dict[str, float]:
    """CNPJ -> hidden propensity, for every company row of the world (first row of a repeated id)."""
    sites = company_sites(world)
    out: dict[str, float] = {}
    for row in world.companies:
        out.setdefault(row["cnpj"], hidden_propensity(row, sites.get(row["cnpj"])))
    return out


def more_worlds(seeds: Iterable[int], n_companies: int = 2000) -> list[World]:
    """Worlds from the same traits machinery, one per seed (a world holds at most a few thousand names)."""
    return [generate_world(n_companies, seed=s) for s in seeds]


FunnelStep = tuple[str, str, datetime]  # (lead_key, status, when)


def simulate_funnel(contacts: Sequence[tuple[str, float]], *, seed: int, start: datetime,
                    spacing: timedelta = timedelta(hours=2)) -> list[FunnelStep]:
    """Funnel histories of leads contacted in this order ((lead_key, propensity) each), one every
    ``spacing``: an answer comes 1-10 days later with the lead's propensity (replied, then a third
    of those meet and half of those win); a lead that does not answer is marked lost within 30 days
    half the time, else simply never replies."""
    rng = random.Random(seed)
    steps: list[FunnelStep] = []
    for i, (key, p) in enumerate(contacts):
        at = start + spacing * i
        steps.append((key, "contacted", at))
        if rng.random() < p:
            replied = at + timedelta(days=rng.uniform(1, 10))
            steps.append((key, "replied", replied))
            if rng.random() < 1 / 3:
                meeting = replied + timedelta(days=rng.uniform(1, 7))
                steps.append((key, "meeting", meeting))
                if rng.random() < 0.5:
                    steps.append((key, "won", meeting + timedelta(days=rng.uniform(3, 30))))
        elif rng.random() < 0.5:
            steps.append((key, "lost", at + timedelta(days=rng.uniform(2, 30))))
    return sorted(steps, key=lambda s: (s[2], s[0]))


def bundled_propensities(data_dir: Path = DATA_DIR) -> dict[str, float]:
    """CNPJ -> hidden propensity of the bundled demo world, read from its files (what the demo hunts)."""
    with (data_dir / "companies.csv").open(encoding="utf-8", newline="") as fh:
        rows = [row for row in csv.DictReader(fh) if len(row) == len(COLUMNS) and None not in row.values()]
    sites = {s["cnpj"]: s for s in json.loads((data_dir / "sites.json").read_text(encoding="utf-8"))
             if s.get("role") == "company" and s.get("cnpj")}
    out: dict[str, float] = {}
    for row in rows:
        out.setdefault(row["cnpj"], hidden_propensity(row, sites.get(row["cnpj"])))
    return out
