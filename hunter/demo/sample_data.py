"""Deterministic generator of Hunter's offline demo world.

The world is a Receita-like company table (``companies.csv``), the web sites
the web farm serves for some of those companies (``sites.json``), what the
search endpoint answers per query (``search_index.json``) and a manifest of
the traps planted in the table (``manifest.json``).

Everything comes from one seeded ``random.Random``: no clock, no network.
Regenerate with ``python -m hunter.demo.sample_data --out hunter/demo/data``.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import random
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from shared.registry_ids import check_digits

DATA_DIR = Path(__file__).parent / "data"

COLUMNS = [
    "cnpj",
    "razao_social",
    "nome_fantasia",
    "situacao_cadastral",
    "data_inicio_atividade",
    "cnae_fiscal_principal",
    "cnae_fiscal_secundaria",
    "natureza_juridica",
    "porte_empresa",
    "capital_social",
    "opcao_simples",
    "opcao_mei",
    "logradouro",
    "numero",
    "complemento",
    "bairro",
    "cep",
    "uf",
    "municipio",
    "ddd_1",
    "telefone_1",
    "ddd_2",
    "telefone_2",
    "correio_eletronico",
    "site",
]

SOFTWARE_CNAES = ["6201501", "6202300", "6203100", "6204000", "6209100", "6311900", "6319400"]
RETAIL_CNAES = ["4751201", "4781400", "4789099", "4761003", "4744099"]
SERVICES_CNAES = ["7319002", "7020400", "8599604", "7490104"]
ACCOUNTING_CNAES = ["6920601"]
MISC_CNAES = ["5611201", "4930202", "4120400", "7112000", "1091102", "4530703", "8630503"]

FREE_MAIL = ["gmail.com", "hotmail.com", "bol.com.br", "uol.com.br", "yahoo.com.br", "outlook.com"]
DIRECTORY_DOMAIN = "cnpj-directory.example"
DIRECTORY_DOMAIN_2 = "empresasbrasil.example"

# city -> (uf, ddd, cep prefix, districts)
CITIES: dict[str, tuple[str, str, str, list[str]]] = {
    "SAO PAULO": ("SP", "11", "0", ["PINHEIROS", "VILA MARIANA", "MOOCA", "BELA VISTA", "ITAIM BIBI", "SANTANA"]),
    "CAMPINAS": ("SP", "19", "13", ["CAMBUI", "TAQUARAL", "BARAO GERALDO", "CENTRO"]),
    "SANTOS": ("SP", "13", "11", ["GONZAGA", "BOQUEIRAO", "APARECIDA"]),
    "RIBEIRAO PRETO": ("SP", "16", "14", ["JARDIM IRAJA", "CENTRO", "RIBEIRANIA"]),
    "SAO JOSE DOS CAMPOS": ("SP", "12", "12", ["JARDIM AQUARIUS", "VILA ADYANA", "CENTRO"]),
    "SOROCABA": ("SP", "15", "18", ["CAMPOLIM", "CENTRO", "VILA TRUJILLO"]),
    "RIO DE JANEIRO": ("RJ", "21", "2", ["BOTAFOGO", "COPACABANA", "CENTRO", "BARRA DA TIJUCA", "TIJUCA"]),
    "NITEROI": ("RJ", "21", "24", ["ICARAI", "CENTRO", "INGA"]),
    "BELO HORIZONTE": ("MG", "31", "30", ["SAVASSI", "FUNCIONARIOS", "LOURDES", "PAMPULHA"]),
    "UBERLANDIA": ("MG", "34", "38", ["CENTRO", "SANTA MONICA"]),
    "CURITIBA": ("PR", "41", "80", ["BATEL", "CENTRO", "AGUA VERDE", "REBOUCAS"]),
    "LONDRINA": ("PR", "43", "86", ["CENTRO", "GLEBA PALHANO"]),
    "FLORIANOPOLIS": ("SC", "48", "88", ["CENTRO", "TRINDADE", "LAGOA DA CONCEICAO"]),
    "JOINVILLE": ("SC", "47", "89", ["CENTRO", "AMERICA"]),
    "PORTO ALEGRE": ("RS", "51", "90", ["MOINHOS DE VENTO", "CENTRO HISTORICO", "PETROPOLIS"]),
}
CITY_WEIGHTS = {
    "SAO PAULO": 38,
    "CAMPINAS": 9,
    "SANTOS": 4,
    "RIBEIRAO PRETO": 4,
    "SAO JOSE DOS CAMPOS": 4,
    "SOROCABA": 3,
    "RIO DE JANEIRO": 10,
    "NITEROI": 2,
    "BELO HORIZONTE": 8,
    "UBERLANDIA": 2,
    "CURITIBA": 6,
    "LONDRINA": 2,
    "FLORIANOPOLIS": 3,
    "JOINVILLE": 2,
    "PORTO ALEGRE": 5,
}

BRANDS = [
    "Nexus",
    "Vortex",
    "Alfa",
    "Orion",
    "Prisma",
    "Atlas",
    "Lumen",
    "Pixel",
    "Sigma",
    "Delta",
    "Vetor",
    "Aurora",
    "Horizonte",
    "Conecta",
    "Fenix",
    "Kairos",
    "Nova",
    "Onda",
    "Solar",
    "Trilha",
    "Zenite",
    "Brisa",
    "Ideal",
    "Mestre",
    "Nobre",
    "Polo",
    "Rota",
    "Sintese",
    "Terra",
    "Arco",
    "Bela",
    "Cristal",
    "Jade",
    "Safira",
    "Topazio",
    "Granito",
    "Ipe",
    "Jatoba",
    "Cedro",
    "Araucaria",
    "Tucano",
    "Arara",
    "Colibri",
    "Guara",
    "Sabia",
    "Quantum",
    "Vertice",
    "Nuvem",
    "Farol",
    "Bussola",
    "Ancora",
    "Mirante",
    "Estrela",
    "Cometa",
    "Galaxia",
    "Orbita",
    "Radar",
    "Sinal",
    "Codigo",
    "Logica",
    "Matriz",
    "Vetorial",
    "Impulso",
    "Avante",
    "Criativa",
    "Essencia",
    "Harmonia",
    "Infinita",
    "Kappa",
    "Omega",
    "Lambda",
    "Beta",
    "Gama",
    "Tetra",
    "Hexa",
    "Vita",
    "Verde",
    "Azul",
    "Dourada",
    "Prata",
    "Rubi",
    "Ametista",
    "Opala",
    "Coral",
    "Perola",
    "Itapua",
    "Jurere",
    "Moema",
    "Tijuco",
    "Serra",
    "Lagoa",
    "Praia",
    "Cerrado",
    "Pampa",
    "Sertao",
    "Litoral",
    "Capital",
    "Central",
    "Paulista",
    "Carioca",
    "Mineira",
]
SUFFIXES = {
    "software": [
        "Software",
        "Tecnologia",
        "Sistemas",
        "Digital",
        "Informatica",
        "TI",
        "Labs",
        "Data",
        "Cloud",
        "Soluções Digitais",
        "Tecnologia da Informação",
        "Dev",
    ],
    "retail": [
        "Modas",
        "Calçados",
        "Cosméticos",
        "Presentes",
        "Utilidades",
        "Store",
        "Shop",
        "Boutique",
        "Eletrônicos",
        "Papelaria",
        "Móveis",
        "Esportes",
        "Perfumaria",
        "Pet Shop",
        "Acessórios",
    ],
    "services": [
        "Marketing",
        "Consultoria",
        "Comunicação",
        "Cursos",
        "Assessoria",
        "Eventos",
        "Design",
        "Treinamentos",
        "Gestão Empresarial",
    ],
    "accounting": ["Contabilidade", "Assessoria Contábil", "Escritório Contábil", "Contábil"],
    "misc": [
        "Alimentos",
        "Transportes",
        "Construções",
        "Engenharia",
        "Restaurante",
        "Padaria",
        "Auto Peças",
        "Clínica",
        "Serviços",
    ],
}
FIRST_NAMES = [
    "JOAO",
    "MARIA",
    "JOSE",
    "ANA",
    "CARLOS",
    "PAULA",
    "LUCAS",
    "FERNANDA",
    "MARCOS",
    "JULIANA",
    "RAFAEL",
    "CAMILA",
    "PEDRO",
    "BEATRIZ",
    "RICARDO",
    "LETICIA",
    "THIAGO",
    "PATRICIA",
]
LAST_NAMES = [
    "DA SILVA",
    "DOS SANTOS",
    "OLIVEIRA",
    "SOUZA",
    "PEREIRA",
    "COSTA",
    "RODRIGUES",
    "ALMEIDA",
    "NASCIMENTO",
    "LIMA",
    "ARAUJO",
    "FERREIRA",
    "CARVALHO",
    "GOMES",
    "MARTINS",
    "ROCHA",
]
STREETS = [
    "RUA DAS FLORES",
    "AVENIDA PAULISTA",
    "RUA AUGUSTA",
    "AVENIDA BRASIL",
    "RUA XV DE NOVEMBRO",
    "RUA DOS PINHEIROS",
    "AVENIDA ATLANTICA",
    "RUA DA CONSOLACAO",
    "AVENIDA AFONSO PENA",
    "RUA BARAO DE JAGUARA",
    "AVENIDA IPIRANGA",
    "RUA VOLUNTARIOS DA PATRIA",
    "RUA SETE DE SETEMBRO",
    "AVENIDA DAS AMERICAS",
    "RUA FELIPE SCHMIDT",
    "RUA MARECHAL DEODORO",
]

# Technology labels exactly as Wappalyzer names them, per site template.
TEMPLATE_TECH: dict[str, list[str]] = {
    "wordpress": ["WordPress", "PHP", "MySQL", "jQuery"],
    "woocommerce": ["WordPress", "WooCommerce", "PHP", "MySQL", "jQuery"],
    "wix": ["Wix", "React"],
    "shopify": ["Shopify", "Cloudflare"],
    "nuvemshop": ["Nuvemshop", "Cloudflare"],
    "tray": ["Tray", "jQuery", "Nginx"],
    "loja_integrada": ["Loja Integrada", "jQuery", "Nginx"],
    "vtex": ["VTEX"],
    "bootstrap": ["Bootstrap", "jQuery"],
    "plain": [],
    "nextjs": ["Next.js", "React", "Webpack"],
    "spa": ["React", "Nginx"],
}
ADDON_TECH: dict[str, list[str]] = {
    "ga4": ["Google Analytics", "Google Tag Manager"],
    "gtm": ["Google Tag Manager"],
    "fbpixel": ["Facebook Pixel"],
    "gads": ["Google Ads Conversion Tracking", "Google Ads"],
    "hotjar": ["Hotjar"],
    "rdstation": ["RD Station"],
    "hubspot": ["HubSpot"],
    "jivochat": ["JivoChat"],
    "tawkto": ["Tawk.to"],
    "zendesk": ["Zendesk"],
    "gfonts": ["Google Font API"],
    "opengraph": ["Open Graph"],
    "yoast": ["Yoast SEO"],
}
TEMPLATES_BY_KIND = {
    "software": ["wordpress", "wordpress", "bootstrap", "bootstrap", "nextjs", "wix", "plain"],
    "services": ["wordpress", "wordpress", "wix", "bootstrap", "plain"],
    "retail": ["shopify", "nuvemshop", "tray", "loja_integrada", "vtex", "woocommerce", "woocommerce", "wix"],
    "misc": ["wordpress", "plain", "wix"],
}

CATEGORY_LABEL = {
    "software": "desenvolvimento de software e serviços de TI",
    "retail": "comércio varejista e loja virtual",
    "services": "serviços empresariais",
    "misc": "atendimento a empresas e consumidores",
}


# --------------------------------------------------------------------------- ids


cnpj_check_digits = check_digits  # the shared rule, so demo data and the pipeline agree


def format_cnpj(cnpj: str) -> str:
    return f"{cnpj[:2]}.{cnpj[2:5]}.{cnpj[5:8]}/{cnpj[8:12]}-{cnpj[12:]}"


def cpf_check_digits(base9: str) -> str:
    digits = [int(c) for c in base9]
    for _ in range(2):
        n = len(digits)
        r = sum(d * w for d, w in zip(digits, range(n + 1, 1, -1), strict=True)) * 10 % 11
        digits.append(0 if r == 10 else r)
    return f"{digits[-2]}{digits[-1]}"


def slugify(text: str) -> str:
    """Lowercase ASCII letters and digits only: 'Alfa Soluções' -> 'alfasolucoes'."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]", "", ascii_text.lower())


def normalize_query(text: str) -> str:
    """Search-side normalisation: ASCII, lowercase, single spaces, no legal-form words."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    words = re.sub(r"[^a-z0-9]+", " ", ascii_text).split()
    stop = {"ltda", "me", "epp", "eireli", "sa", "s", "a", "site", "oficial", "cnpj", "empresa", "br"}
    return " ".join(w for w in words if w not in stop)


def upper_ascii_optional(text: str, rng: random.Random) -> str:
    """Registry names are upper case; about half keep their accents."""
    up = text.upper()
    if rng.random() < 0.5:
        return up
    return unicodedata.normalize("NFKD", up).encode("ascii", "ignore").decode()


def format_phone_br(e164: str) -> str:
    """'+5511987654321' -> '(11) 98765-4321'."""
    ddd, num = e164[3:5], e164[5:]
    return f"({ddd}) {num[:-4]}-{num[-4:]}"


# --------------------------------------------------------------------------- world


@dataclass
class World:
    companies: list[dict[str, str]]  # every well-formed data row in file order
    csv_text: str
    sites: list[dict]
    search_index: dict[str, dict]
    manifest: dict
    malformed_lines: list[int] = field(default_factory=list)

    def write(self, out: Path) -> None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "companies.csv").write_text(self.csv_text, encoding="utf-8", newline="")
        for name, obj in (
            ("sites.json", self.sites),
            ("search_index.json", self.search_index),
            ("manifest.json", self.manifest),
        ):
            text = json.dumps(obj, ensure_ascii=False, indent=1) + "\n"
            (out / name).write_text(text, encoding="utf-8", newline="")


@dataclass
class _Co:
    idx: int
    kind: str  # software/retail/services/accounting/misc
    brand: str
    suffix: str
    row: dict[str, str]
    mei: bool = False
    accountant_client: bool = False
    site: dict | None = None


def _weighted_city(rng: random.Random) -> str:
    names = list(CITY_WEIGHTS)
    return rng.choices(names, weights=[CITY_WEIGHTS[n] for n in names])[0]


def _rand_digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


def _rand_id(rng: random.Random, n: int, alphabet: str = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789") -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _mobile(rng: random.Random) -> str:
    return "9" + rng.choice("6789") + _rand_digits(rng, 7)


def _fixed(rng: random.Random) -> str:
    return rng.choice("2345") + _rand_digits(rng, 7)


def _date(rng: random.Random, y0: int = 1995, y1: int = 2024) -> str:
    return f"{rng.randint(y0, y1)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"


def _capital(rng: random.Random, kind: str, mei: bool) -> str:
    if mei:
        value = rng.choice([1000, 2000, 5000, 10000, 15000])
    else:
        value = rng.choice([10000, 30000, 50000, 100000, 150000, 250000, 500000, 1200000])
        if kind == "software" and rng.random() < 0.2:
            value = rng.choice([2000000, 5000000])
    cents = rng.choice([0, 0, 0, 50, 23])
    return f"{value},{cents:02d}"


def generate_world(n_companies: int = 300, seed: int = 7) -> World:
    rng = random.Random(seed)
    n = n_companies
    counts = {
        "software": round(n * 0.40),
        "retail": round(n * 0.30),
        "services": round(n * 0.15),
        "accounting": max(3, round(n * 0.05)),
    }
    counts["misc"] = n - sum(counts.values())
    kinds = [k for k, c in counts.items() for _ in range(c)]
    rng.shuffle(kinds)

    used_names: set[str] = set()
    used_basicos: set[str] = set()
    cos: list[_Co] = []
    for idx, kind in enumerate(kinds):
        while True:
            brand, suffix = rng.choice(BRANDS), rng.choice(SUFFIXES[kind])
            if slugify(brand + suffix) not in used_names and slugify(brand) not in used_names:
                used_names.add(slugify(brand + suffix))
                break
        while True:
            basico = _rand_digits(rng, 8)
            if basico not in used_basicos and basico[0] != "0":
                used_basicos.add(basico)
                break
        ordem = "0001" if rng.random() < 0.93 else "0002"
        cnpj = basico + ordem + cnpj_check_digits(basico + ordem)
        city = _weighted_city(rng)
        uf, ddd, cep_prefix, districts = CITIES[city]
        cnae_pool = {
            "software": SOFTWARE_CNAES,
            "retail": RETAIL_CNAES,
            "services": SERVICES_CNAES,
            "accounting": ACCOUNTING_CNAES,
            "misc": MISC_CNAES,
        }[kind]
        cnae = rng.choice(cnae_pool)
        secondary = sorted(set(rng.sample(cnae_pool + SERVICES_CNAES, k=rng.choice([0, 0, 1, 2, 3]))) - {cnae})
        legal_form = rng.choices(["LTDA", "EIRELI", "S.A."], weights=[80, 14, 6])[0]
        natureza = {"LTDA": "2062", "EIRELI": "2305", "S.A.": "2054"}[legal_form]
        razao = upper_ascii_optional(f"{brand} {suffix} {legal_form}", rng)
        fantasia = upper_ascii_optional(f"{brand} {suffix}", rng) if rng.random() < 0.7 else ""
        status = rng.choices(["ATIVA", "BAIXADA", "SUSPENSA", "INAPTA"], weights=[90, 4, 2, 4])[0]
        porte = rng.choices(["01", "03", "05"], weights=[60, 28, 12])[0]
        mobile_first = rng.random() < 0.45
        tel1 = _mobile(rng) if mobile_first else _fixed(rng)
        has_tel2 = rng.random() < 0.3
        complemento = rng.choice(["", "", "", "SALA 12", "CONJ 45", "ANDAR 3, SALA 301", "LOJA 2", "BLOCO B"])
        row = {
            "cnpj": cnpj,
            "razao_social": razao,
            "nome_fantasia": fantasia,
            "situacao_cadastral": status,
            "data_inicio_atividade": _date(rng),
            "cnae_fiscal_principal": cnae,
            "cnae_fiscal_secundaria": ",".join(secondary),
            "natureza_juridica": natureza,
            "porte_empresa": porte,
            "capital_social": _capital(rng, kind, False),
            "opcao_simples": "S" if porte != "05" and rng.random() < 0.7 else "N",
            "opcao_mei": "N",
            "logradouro": rng.choice(STREETS),
            "numero": str(rng.randint(1, 3500)) if rng.random() < 0.95 else "S/N",
            "complemento": complemento,
            "bairro": rng.choice(districts),
            "cep": cep_prefix + _rand_digits(rng, 8 - len(cep_prefix)),
            "uf": uf,
            "municipio": city,
            "ddd_1": ddd,
            "telefone_1": tel1,
            "ddd_2": ddd if has_tel2 else "",
            "telefone_2": (_fixed(rng) if mobile_first else _mobile(rng)) if has_tel2 else "",
            "correio_eletronico": "",
            "site": "",
        }
        cos.append(_Co(idx=idx, kind=kind, brand=brand, suffix=suffix, row=row))

    # ---- MEI: ~20 individual entrepreneurs, owner's CPF digits at the end of the name
    mei_pool = [c for c in cos if c.kind in ("retail", "services", "software")]
    rng.shuffle(mei_pool)
    n_mei = max(1, round(n * 20 / 300))
    for c in mei_pool[:n_mei]:
        c.mei = True
        base9 = _rand_digits(rng, 9)
        cpf = base9 + cpf_check_digits(base9)
        owner = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
        c.row["razao_social"] = f"{owner} {cpf}"
        c.row["nome_fantasia"] = upper_ascii_optional(f"{c.brand} {c.suffix}", rng) if rng.random() < 0.5 else ""
        c.row["natureza_juridica"] = "2135"
        c.row["opcao_mei"] = "S"
        c.row["opcao_simples"] = "S"
        c.row["porte_empresa"] = "01"
        c.row["capital_social"] = _capital(rng, c.kind, True)
        c.row["situacao_cadastral"] = "ATIVA"
        c.row["telefone_1"] = _mobile(rng)

    # ---- accounting offices whose phone and e-mail show up on their clients' rows
    offices = [c for c in cos if c.kind == "accounting"][:3]
    office_contacts = [
        ("AB CONTABILIDADE LTDA", "AB CONTABILIDADE", "contato@abcontabilidade.com.br"),
        ("ESCRITORIO CONTABIL PRIME LTDA", "PRIME CONTABIL", "escritorio.contabil@gmail.com"),
        ("CONTAR ASSESSORIA CONTABIL LTDA", "CONTAR", "fiscal@contarassessoria.com.br"),
    ]
    for office, (razao, fantasia, email) in zip(offices, office_contacts, strict=False):
        office.row.update(
            razao_social=razao, nome_fantasia=fantasia, correio_eletronico=email, situacao_cadastral="ATIVA"
        )
    client_pool = [c for c in cos if c.kind in ("software", "retail", "services", "misc") and not c.mei]
    rng.shuffle(client_pool)
    shared_phones: dict[str, list[str]] = {}
    cursor = 0
    for office in offices:
        clients = client_pool[cursor : cursor + 5]
        cursor += 5
        key = office.row["ddd_1"] + office.row["telefone_1"]
        shared_phones[key] = [office.row["cnpj"]]
        for c in clients:
            c.accountant_client = True
            c.row["ddd_1"], c.row["telefone_1"] = office.row["ddd_1"], office.row["telefone_1"]
            c.row["ddd_2"], c.row["telefone_2"] = "", ""
            c.row["correio_eletronico"] = office.row["correio_eletronico"]
            shared_phones[key].append(c.row["cnpj"])
    # other accounting offices get their own ordinary contacts
    for c in cos:
        if c.kind == "accounting" and not c.row["correio_eletronico"]:
            c.row["correio_eletronico"] = f"contato@{slugify(c.brand + c.suffix)}.com.br"

    # ---- sites for most good-fit companies
    eligible = [
        c
        for c in cos
        if not c.mei and not c.accountant_client and c.kind != "accounting" and c.row["situacao_cadastral"] == "ATIVA"
    ]
    quota = {"software": 0.60, "retail": 0.25, "services": 0.12, "misc": 0.03}
    n_sites = round(n * 120 / 300)
    chosen: list[_Co] = []
    for kind, share in quota.items():
        pool = [c for c in eligible if c.kind == kind]
        chosen += pool[: round(n_sites * share)]
    chosen = chosen[:n_sites]
    # three ways a site can be found
    order = list(chosen)
    rng.shuffle(order)
    n_email, n_search = round(len(order) * 0.5), round(len(order) * 0.29)
    # guess needs a trade name to slug
    discovery: dict[int, str] = {}
    for i, c in enumerate(order):
        discovery[c.idx] = "email_domain" if i < n_email else "search" if i < n_email + n_search else "guess"
    for c in order:
        if discovery[c.idx] == "guess" and not c.row["nome_fantasia"]:
            c.row["nome_fantasia"] = upper_ascii_optional(f"{c.brand} {c.suffix}", rng)

    used_domains: set[str] = set()
    sites: list[dict] = []
    for c in sorted(order, key=lambda c: c.idx):
        c.site = _make_site(c, discovery[c.idx], rng, used_domains)
        sites.append(c.site)

    # special behaviours, on fixed kinds of sites
    def pick(disc: str, templates: tuple[str, ...] | None = None) -> dict:
        for s in sites:
            if s["behaviour"] is None and s["discovery"] == disc and (templates is None or s["template"] in templates):
                return s
        raise RuntimeError(f"no site left for {disc}")

    pick("email_domain", ("wordpress", "bootstrap", "plain"))["behaviour"] = "slow"
    pick("email_domain", ("wordpress", "bootstrap", "plain"))["behaviour"] = "error500"
    redirect_www = pick("email_domain", ("wordpress", "bootstrap", "plain"))
    redirect_www.update(behaviour="redirect", redirect_to=f"www.{redirect_www['domain']}")
    redirect_other = pick("search", ("wordpress", "bootstrap", "plain"))
    new_domain = "novo" + redirect_other["domain"]
    redirect_other.update(behaviour="redirect", redirect_to=new_domain)
    _retarget_site(redirect_other, new_domain)
    shell = pick("email_domain", ("bootstrap", "plain", "nextjs"))
    _make_js_shell(shell)
    pick("guess")["behaviour"] = "robots_disallow_all"
    pick("guess")["behaviour"] = "not_found"
    for s in sites:
        if s["behaviour"] == "not_found":
            s["technologies"] = []

    # registry e-mails now that domains exist
    by_cnpj = {c.row["cnpj"]: c for c in cos}
    for c in cos:
        if c.row["correio_eletronico"]:
            continue
        site = c.site
        if site is not None and site["discovery"] == "email_domain":
            email = f"{rng.choice(['contato', 'comercial', 'atendimento', 'vendas', 'financeiro'])}@{site['domain']}"
            site["registry_email"] = email
        elif site is not None or rng.random() < 0.55:
            email = f"{slugify(c.brand)}{rng.choice(['', '.', '_'])}{slugify(c.suffix)[:6]}@{rng.choice(FREE_MAIL)}"
            if c.mei:
                email = f"{c.row['razao_social'].split()[0].lower()}{_rand_digits(rng, 3)}@{rng.choice(FREE_MAIL)}"
        elif rng.random() < 0.4:
            # corporate e-mail on a domain that serves nothing
            email = f"contato@{slugify(c.brand + c.suffix)}.com.br"
        else:
            email = ""
        c.row["correio_eletronico"] = email

    # messy formatting of a few contacts
    messy = [c for c in cos if c.row["correio_eletronico"]]
    rng.shuffle(messy)
    for c in messy[:12]:
        e = c.row["correio_eletronico"]
        c.row["correio_eletronico"] = rng.choice([e.upper(), f" {e} ", e[0].upper() + e[1:], f"{e.capitalize()} "])
    odd_phones = [c for c in cos if not c.accountant_client and c.kind != "accounting"]
    rng.shuffle(odd_phones)
    for i, c in enumerate(odd_phones[:14]):
        ddd, tel = c.row["ddd_1"], c.row["telefone_1"]
        if i % 3 == 0:
            c.row["ddd_1"], c.row["telefone_1"] = "", f"({ddd}) {tel[:-4]}-{tel[-4:]}"
        elif i % 3 == 1:
            c.row["ddd_1"], c.row["telefone_1"] = f"0{ddd}", f"{tel[:-4]}-{tel[-4:]}"
        else:
            c.row["ddd_1"], c.row["telefone_1"] = f"({ddd})", f"{tel[:-4]} {tel[-4:]}"

    # a few rows carry a site in the registry (most do not)
    for s in sites[:6]:
        if s["behaviour"] is None and s["discovery"] == "email_domain":
            by_cnpj[s["cnpj"]].row["site"] = f"www.{s['domain']}"

    # fill site contacts that depend on registry rows
    for c in cos:
        if c.site is not None:
            _fill_site_contacts(c, rng)

    # ---- invalid check digits on two rows without a site
    spare = [c for c in cos if c.site is None and not c.accountant_client and c.kind != "accounting" and not c.mei]
    invalid = spare[:2]
    for c in invalid:
        cnpj = c.row["cnpj"]
        c.row["cnpj"] = cnpj[:13] + str((int(cnpj[13]) + 1) % 10)

    rows = [c.row for c in cos]
    # ---- exact duplicates: three rows repeated further down the file
    dup_sources = [spare[5], spare[9], cos[len(cos) // 2]]
    insert_at = [40, 150, len(rows)]
    for src, at in sorted(zip(dup_sources, insert_at, strict=True), key=lambda t: -t[1]):
        rows.insert(at, dict(src.row))
    # ---- malformed rows (wrong column count) at fixed file lines
    lines = [_csv_line(COLUMNS)] + [_csv_line([r[k] for k in COLUMNS]) for r in rows]
    bad1 = _csv_line([r for r in _fake_row(rng, cos[0]).values()][:19])
    bad2 = _csv_line(list(_fake_row(rng, cos[1]).values()) + ["EXTRA", "COLUNA"])
    malformed_at = [101, 201]  # 1-based file lines, header is line 1
    for line_no, text in zip(malformed_at, [bad1, bad2], strict=True):
        lines.insert(line_no - 1, text)
    csv_text = "".join(lines)

    # ---- decoy directory pages and search index
    directory_sites = _directory_sites(cos)
    search_index = _search_index(cos, rng)
    all_sites = sites + directory_sites

    manifest = {
        "seed": seed,
        "n_companies": n,
        "data_rows": len(lines) - 1,
        "malformed_lines": malformed_at,
        "duplicate_cnpjs": [s.row["cnpj"] for s in dup_sources],
        "invalid_cnpjs": [c.row["cnpj"] for c in invalid],
        "mei_cnpjs": [c.row["cnpj"] for c in cos if c.mei],
        "accountant_like_cnpjs": [c.row["cnpj"] for c in cos if c.accountant_client],
        "accounting_office_cnpjs": [c.row["cnpj"] for c in offices],
        "shared_phones": shared_phones,
        "kinds": {k: [c.row["cnpj"] for c in cos if c.kind == k] for k in counts},
        "sites_by_discovery": {
            d: [s["domain"] for s in sites if s["discovery"] == d] for d in ("email_domain", "search", "guess")
        },
        "sites_by_behaviour": {
            b: [s["domain"] for s in sites if s["behaviour"] == b]
            for b in ("slow", "error500", "redirect", "js_shell", "robots_disallow_all", "not_found")
        },
        "decoy_domains": [s["domain"] for s in directory_sites],
    }
    return World(
        companies=rows,
        csv_text=csv_text,
        sites=all_sites,
        search_index=search_index,
        manifest=manifest,
        malformed_lines=malformed_at,
    )


def _csv_line(values: list[str]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(values)
    return buf.getvalue()


def _fake_row(rng: random.Random, like: _Co) -> dict[str, str]:
    row = dict(like.row)
    basico = _rand_digits(rng, 8)
    row["cnpj"] = basico + "0001" + cnpj_check_digits(basico + "0001")
    row["razao_social"] = f"{rng.choice(BRANDS).upper()} SERVICOS GERAIS LTDA"
    return row


def _domain_for(c: _Co, disc: str, rng: random.Random, used: set[str]) -> str:
    brand, full = slugify(c.brand), slugify(c.brand + c.suffix)
    if disc == "guess":
        candidates = [slugify(c.row["nome_fantasia"]) + ".com.br"]
    elif disc == "search":
        candidates = [
            f"{brand}-{slugify(c.suffix)}.com.br",
            f"use{brand}.com.br",
            f"{full}.net.br",
            f"grupo{brand}.com",
            f"{brand}{c.idx}.com.br",
        ]
        rng.shuffle(candidates)
    else:
        candidates = [f"{full}.com.br", f"{full}.com.br", f"{brand}.com.br", f"{full}.com", f"{brand}tech.com.br"]
        rng.shuffle(candidates)
        candidates.append(f"{full}{c.idx}.com.br")
    for d in candidates:
        if d not in used:
            used.add(d)
            return d
    raise RuntimeError("domain collision")


def _make_site(c: _Co, disc: str, rng: random.Random, used: set[str]) -> dict:
    domain = _domain_for(c, disc, rng, used)
    kind = c.kind if c.kind in TEMPLATES_BY_KIND else "misc"
    template = rng.choice(TEMPLATES_BY_KIND[kind])
    techs = list(TEMPLATE_TECH[template])
    headers: dict[str, str] = {}
    cookies: list[str] = []
    if template in ("wordpress", "woocommerce", "bootstrap", "plain"):
        server = rng.choice(["nginx", "apache", "cloudflare"] if template != "plain" else ["nginx", "apache"])
        if server == "nginx":
            headers["Server"] = "nginx/1.24.0"
            techs.append("Nginx")
        elif server == "apache":
            headers["Server"] = "Apache/2.4.58"
            techs.append("Apache HTTP Server")
        else:
            headers["Server"] = "cloudflare"
            headers["CF-Ray"] = f"{_rand_id(rng, 16, '0123456789abcdef')}-GRU"
            headers["CF-Cache-Status"] = "DYNAMIC"
            techs.append("Cloudflare")
        if template in ("wordpress", "woocommerce") or (template == "bootstrap" and rng.random() < 0.5):
            headers["X-Powered-By"] = rng.choice(["PHP/8.1.27", "PHP/8.2.15", "PHP/7.4.33"])
            if "PHP" not in techs:
                techs.append("PHP")
        if template in ("wordpress", "woocommerce"):
            headers["Link"] = f'<http://{domain}/wp-json/>; rel="https://api.w.org/"'
    elif template == "wix":
        headers["Server"] = "Pepyaka"
        headers["X-Wix-Request-Id"] = _rand_id(rng, 20, "0123456789abcdef")
    elif template == "shopify":
        headers["Server"] = "cloudflare"
        headers["CF-Ray"] = f"{_rand_id(rng, 16, '0123456789abcdef')}-GRU"
        headers["X-ShopId"] = _rand_digits(rng, 8)
        cookies = [
            f"_shopify_y={_rand_id(rng, 16, '0123456789abcdef')}; Path=/; Max-Age=31536000",
            f"_shopify_s={_rand_id(rng, 16, '0123456789abcdef')}; Path=/; Max-Age=1800",
        ]
    elif template == "nuvemshop":
        headers["Server"] = "cloudflare"
        headers["CF-Ray"] = f"{_rand_id(rng, 16, '0123456789abcdef')}-GRU"
    elif template in ("tray", "loja_integrada", "spa"):
        headers["Server"] = "nginx/1.24.0"
        if template == "loja_integrada":
            headers["X-Powered-By"] = "vtex-integrated-store"
    elif template == "vtex":
        headers["powered"] = "vtex"
        cookies = ["VtexWorkspace=master%3A-; Path=/; Max-Age=172800", "VtexStoreVersion=v2; Path=/"]
    elif template == "nextjs":
        headers["X-Powered-By"] = "Next.js 14.1.0"

    addons: list[str] = []
    if rng.random() < 0.6:
        addons.append("ga4")
    elif rng.random() < 0.3:
        addons.append("gtm")
    if rng.random() < 0.35:
        addons.append("fbpixel")
    if rng.random() < 0.2:
        addons.append("gads")
    if rng.random() < 0.15:
        addons.append("hotjar")
    marketing = rng.random()
    if marketing < 0.2:
        addons.append("rdstation")
    elif marketing < 0.28:
        addons.append("hubspot")
    chat = rng.random()
    if chat < 0.12:
        addons.append("jivochat")
    elif chat < 0.2:
        addons.append("tawkto")
    elif chat < 0.25:
        addons.append("zendesk")
    if template in ("wordpress", "bootstrap", "plain", "woocommerce") and rng.random() < 0.5:
        addons.append("gfonts")
    if rng.random() < 0.5:
        addons.append("opengraph")
    if template in ("wordpress", "woocommerce") and rng.random() < 0.4:
        addons.append("yoast")
    for a in addons:
        for t in ADDON_TECH[a]:
            if t not in techs:
                techs.append(t)
    tracking = {
        "gtm": f"GTM-{_rand_id(rng, 7)}",
        "ga4": f"G-{_rand_id(rng, 10)}",
        "aw": f"AW-{_rand_digits(rng, 10)}",
        "fbpixel": _rand_digits(rng, 15),
        "hotjar": _rand_digits(rng, 7),
        "rdstation": "-".join(_rand_id(rng, n, "0123456789abcdef") for n in (8, 4, 4, 4, 12)),
        "hubspot": _rand_digits(rng, 8),
        "jivochat": _rand_id(rng, 10, "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"),
        "tawkto": _rand_id(rng, 24, "0123456789abcdef") + "/1h" + _rand_id(rng, 7, "0123456789abcdefghij"),
        "zendesk": "-".join(_rand_id(rng, n, "0123456789abcdef") for n in (8, 4, 4, 4, 12)),
        "shop": _rand_digits(rng, 6),
    }
    tracking = {k: v for k, v in tracking.items() if k in addons or k == "shop" or (k == "aw" and "gads" in addons)}
    name = c.row["nome_fantasia"] or f"{c.brand} {c.suffix}".upper()
    contact_path = rng.choice(["/contato", "/contato", "/fale-conosco"])
    return {
        "domain": domain,
        "role": "company",
        "cnpj": c.row["cnpj"],
        "company_name": _display_name(name),
        "legal_name": c.row["razao_social"],
        "kind": c.kind,
        "city": c.row["municipio"],
        "uf": c.row["uf"],
        "discovery": disc,
        "template": template,
        "technologies": sorted(techs),
        "addons": addons,
        "tracking": tracking,
        "headers": headers,
        "cookies": cookies,
        "emails": [],
        "phones": [],
        "contact_page_emails": [],
        "contact_page_phones": [],
        "obfuscate_email": rng.random() < 0.15,
        "whatsapp": None,
        "whatsapp_style": rng.choice(["wa.me", "wa.me", "api"]),
        "socials": {},
        "maps_url": None,
        "cnpj_in_footer": rng.random() < 0.85,
        "jsonld": rng.choice([None, "Organization", "LocalBusiness"]),
        "behaviour": None,
        "redirect_to": None,
        "www": True,
        "pages": ["/", contact_path, "/sobre"],
        "contact_path": contact_path,
        "robots_disallow": ["/contato", "/fale-conosco"] if rng.random() < 0.1 else [],
    }


def _display_name(upper_name: str) -> str:
    small = {"DE", "DA", "DO", "DAS", "DOS", "E"}
    words = []
    for w in upper_name.split():
        if w in small:
            words.append(w.lower())
        elif w in ("TI", "S.A.", "LTDA"):
            words.append(w)
        else:
            words.append(w.capitalize())
    return " ".join(words)


def _retarget_site(site: dict, new_domain: str) -> None:
    """Content of a redirecting site lives on its new domain."""
    site["served_domain"] = new_domain


def _make_js_shell(site: dict) -> None:
    site.update(
        behaviour="js_shell",
        template="spa",
        technologies=sorted(
            set(TEMPLATE_TECH["spa"])
            | {t for a in site["addons"] for t in ADDON_TECH[a] if a not in ("gfonts", "yoast")}
        ),
    )
    site["addons"] = [a for a in site["addons"] if a not in ("gfonts", "yoast")]
    site["headers"] = {"Server": "nginx/1.24.0"}
    site["cookies"] = []


def _fill_site_contacts(c: _Co, rng: random.Random) -> None:
    site = c.site
    assert site is not None
    domain = site.get("served_domain") or site["domain"]
    mail_domain = site["domain"] if site["discovery"] == "email_domain" else domain
    first = site.get("registry_email") or f"contato@{mail_domain}"
    emails = [first]
    if rng.random() < 0.4:
        emails.append(f"{rng.choice(['comercial', 'vendas', 'suporte', 'rh'])}@{mail_domain}")
    extra_emails = []
    if rng.random() < 0.35:
        extra_emails.append(f"{rng.choice(['financeiro', 'parcerias', 'sac'])}@{mail_domain}")
    if emails and emails[-1] in extra_emails:
        extra_emails = []
    ddd = CITIES[c.row["municipio"]][1]
    tel = re.sub(r"\D", "", c.row["telefone_1"])[-9:] if c.row["telefone_1"] else _fixed(rng)
    if len(tel) < 8:
        tel = _fixed(rng)
    phones = [f"+55{ddd}{tel}"]
    if c.row["telefone_2"]:
        phones.append(f"+55{ddd}{c.row['telefone_2']}")
    extra_phones = [f"+55{ddd}{_fixed(rng)}"] if rng.random() < 0.3 else []
    mobiles = [p for p in phones if p[5] == "9"]
    if mobiles and rng.random() < 0.8:
        whatsapp = mobiles[0][1:]
    elif rng.random() < 0.4:
        whatsapp = f"55{ddd}{_mobile(rng)}"
    else:
        whatsapp = None
    handle = slugify(site["company_name"])
    socials = {}
    if rng.random() < 0.75:
        socials["instagram"] = f"https://www.instagram.com/{handle}/"
    if rng.random() < 0.6:
        socials["facebook"] = f"https://www.facebook.com/{handle}"
    if rng.random() < 0.55 or c.kind == "software":
        words = re.sub(
            r"[^a-z0-9 ]",
            "",
            unicodedata.normalize("NFKD", site["company_name"].lower()).encode("ascii", "ignore").decode(),
        ).split()
        socials["linkedin"] = f"https://www.linkedin.com/company/{'-'.join(words)}/"
    if rng.random() < 0.25:
        socials["youtube"] = f"https://www.youtube.com/@{handle}"
    maps = None
    if rng.random() < 0.6:
        place = "+".join(site["company_name"].split())
        maps = rng.choice(
            [
                f"https://www.google.com/maps/place/{place}/"
                f"@-23.56{rng.randint(100, 999)},-46.65{rng.randint(100, 999)},17z",
                f"https://goo.gl/maps/{_rand_id(rng, 17, 'abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789')}",
            ]
        )
    site.update(
        emails=emails + extra_emails,
        phones=phones + extra_phones,
        contact_page_emails=extra_emails,
        contact_page_phones=extra_phones,
        whatsapp=whatsapp,
        socials=socials,
        maps_url=maps,
        address=f"{c.row['logradouro'].title()}, {c.row['numero']} - {c.row['bairro'].title()}, "
        f"{c.row['municipio'].title()} - {c.row['uf']}, CEP {c.row['cep'][:5]}-{c.row['cep'][5:]}",
    )
    if whatsapp and site["whatsapp_style"] == "api" and site["behaviour"] != "js_shell":
        site["technologies"] = sorted(set(site["technologies"]) | {"WhatsApp Business Chat"})
    site.pop("registry_email", None)


def _directory_sites(cos: list[_Co]) -> list[dict]:
    """Two directory sites listing companies by CNPJ: decoys an enricher must not take as the company's site."""
    listed = [c for c in cos if c.row["situacao_cadastral"] == "ATIVA"]
    out = []
    for domain, title in ((DIRECTORY_DOMAIN, "CNPJ Directory"), (DIRECTORY_DOMAIN_2, "Empresas Brasil")):
        out.append(
            {
                "domain": domain,
                "role": "directory",
                "cnpj": None,
                "company_name": title,
                "discovery": None,
                "template": "directory",
                "technologies": ["Nginx", "Bootstrap"],
                "headers": {"Server": "nginx/1.24.0"},
                "cookies": [],
                "behaviour": None,
                "www": True,
                "pages": ["/", "/empresa/{cnpj}"],
                "listings": [
                    {
                        "cnpj": c.row["cnpj"],
                        "name": c.row["razao_social"],
                        "trade_name": c.row["nome_fantasia"],
                        "phone": f"+55{CITIES[c.row['municipio']][1]}{re.sub(r'[^0-9]', '', c.row['telefone_1'])[-9:]}",
                        "city": c.row["municipio"],
                        "uf": c.row["uf"],
                        "cnae": c.row["cnae_fiscal_principal"],
                    }
                    for c in listed
                ],
            }
        )
    return out


def _search_index(cos: list[_Co], rng: random.Random) -> dict[str, dict]:
    index: dict[str, dict] = {}
    for c in cos:
        if c.site is not None and c.site["discovery"] == "guess":
            results_site = None
        elif c.site is not None and c.site["discovery"] == "search":
            results_site = c.site
        else:
            results_site = None
        name = c.row["nome_fantasia"] or c.row["razao_social"]
        if results_site is None and rng.random() < 0.35:
            continue  # nothing indexed for this company
        display = _display_name(name)
        handle = slugify(name)
        decoys = [
            {
                "title": f"{display} | Facebook",
                "link": f"https://www.facebook.com/{handle}",
                "snippet": f"{display}. Curtir · {rng.randint(20, 900)} pessoas falando sobre isso.",
            },
            {
                "title": f"{c.row['razao_social']} - CNPJ {format_cnpj(c.row['cnpj'])}",
                "link": f"http://{DIRECTORY_DOMAIN}/empresa/{c.row['cnpj']}",
                "snippet": f"{c.row['razao_social']}, CNPJ {format_cnpj(c.row['cnpj'])}, "
                f"{c.row['municipio'].title()}/{c.row['uf']}. Telefone, endereço e sócios.",
            },
            {
                "title": f"{display} (@{handle}) • Instagram",
                "link": f"https://www.instagram.com/{handle}/",
                "snippet": f"{rng.randint(100, 9000)} seguidores · {display}",
            },
            {
                "title": f"{display} | LinkedIn",
                "link": f"https://br.linkedin.com/company/{handle}",
                "snippet": f"{display} | {rng.randint(2, 80)} seguidores no LinkedIn.",
            },
            {
                "title": f"{c.row['razao_social']} | Empresas Brasil",
                "link": f"http://{DIRECTORY_DOMAIN_2}/empresa/{c.row['cnpj']}",
                "snippet": f"Consulte dados cadastrais de {c.row['razao_social']}.",
            },
        ]
        rng.shuffle(decoys)
        decoys = decoys[: rng.randint(2, 5)]
        if results_site is not None:
            host = results_site.get("served_domain") or results_site["domain"]
            real = {
                "title": f"{results_site['company_name']} - {CATEGORY_LABEL.get(c.kind, '')}",
                "link": f"http://{results_site['domain']}/"
                if host == results_site["domain"]
                else f"http://{results_site['domain']}/",
                "snippet": f"{results_site['company_name']}: {CATEGORY_LABEL.get(c.kind, '')} em "
                f"{c.row['municipio'].title()}. Fale conosco.",
            }
            decoys.insert(rng.randint(0, min(2, len(decoys))), real)
        entry = {"cnpj": c.row["cnpj"], "name": name, "results": decoys}
        index[normalize_query(name)] = entry
        if c.row["nome_fantasia"]:
            alias = normalize_query(c.row["razao_social"])
            index.setdefault(alias, entry)
    return dict(sorted(index.items()))


# --------------------------------------------------------------------------- bench

_FILLER = [
    "Nossa equipe atende empresas de todos os portes com soluções sob medida.",
    "Trabalhamos com prazos claros, atendimento próximo e transparência em cada etapa.",
    "Conheça nossos produtos e serviços e descubra como podemos ajudar o seu negócio a crescer.",
    "Atendemos clientes em todo o Brasil, com suporte por telefone, e-mail e WhatsApp.",
    "Qualidade, segurança e inovação são os valores que guiam o nosso trabalho há mais de dez anos.",
    "Entre em contato e solicite um orçamento sem compromisso.",
]


def generate_bench_sites(n: int, seed: int = 1, page_kb: int = 20) -> list[dict]:
    """Site specs for n synthetic sites (site00001.bench.test ...) with pages of about page_kb KB."""
    rng = random.Random(seed)
    templates = ["wordpress", "bootstrap", "plain", "shopify", "nuvemshop", "wix"]
    out = []
    for i in range(1, n + 1):
        base = _rand_digits(rng, 8) + "0001"
        cnpj = base + cnpj_check_digits(base)
        domain = f"site{i:05d}.bench.test"
        ddd = rng.choice(["11", "19", "21", "31", "41"])
        template = templates[i % len(templates)]
        techs = list(TEMPLATE_TECH[template])
        headers: dict[str, str] = {}
        cookies: list[str] = []
        if template in ("wordpress", "bootstrap", "plain"):
            headers["Server"] = "nginx/1.24.0"
            techs.append("Nginx")
            if template == "wordpress":
                headers["X-Powered-By"] = "PHP/8.1.27"
        elif template in ("shopify", "nuvemshop"):
            headers["Server"] = "cloudflare"
            headers["CF-Ray"] = f"{i:016x}-GRU"
            if template == "shopify":
                cookies = [f"_shopify_y={i:016x}; Path=/"]
        elif template == "wix":
            headers["Server"] = "Pepyaka"
            headers["X-Wix-Request-Id"] = f"{i:020x}"
        addons = ["ga4"] if i % 2 else ["gtm", "fbpixel"]
        for a in addons:
            techs += [t for t in ADDON_TECH[a] if t not in techs]
        mobile = _mobile(rng)
        name = f"Bench Empresa {i:05d}"
        out.append(
            {
                "domain": domain,
                "role": "company",
                "cnpj": cnpj,
                "company_name": name,
                "legal_name": name.upper(),
                "kind": "software",
                "city": "SAO PAULO",
                "uf": "SP",
                "discovery": "search",
                "template": template,
                "technologies": sorted(techs),
                "addons": addons,
                "tracking": {"gtm": f"GTM-B{i:06d}", "ga4": f"G-BENCH{i:05d}", "fbpixel": f"{i:015d}", "shop": str(i)},
                "headers": headers,
                "cookies": cookies,
                "emails": [f"contato@{domain}"],
                "phones": [f"+55{ddd}{mobile}"],
                "contact_page_emails": [],
                "contact_page_phones": [],
                "obfuscate_email": False,
                "whatsapp": f"55{ddd}{mobile}",
                "whatsapp_style": "wa.me",
                "socials": {"instagram": f"https://www.instagram.com/site{i:05d}/"},
                "maps_url": None,
                "cnpj_in_footer": True,
                "jsonld": "Organization",
                "behaviour": None,
                "redirect_to": None,
                "www": False,
                "pages": ["/", "/contato", "/sobre"],
                "contact_path": "/contato",
                "robots_disallow": [],
                "address": f"Rua Exemplo, {i} - Centro, Sao Paulo - SP",
                "page_kb": page_kb,
            }
        )
    return out


def bench_filler(domain: str, n_bytes: int) -> str:
    """Deterministic filler markup of about n_bytes for bench pages."""
    if n_bytes <= 0:
        return ""
    seed = sum(domain.encode())
    parts: list[str] = []
    size = 0
    i = 0
    while size < n_bytes:
        sentence = _FILLER[(seed + i) % len(_FILLER)]
        chunk = f'<section class="bloco bloco-{i % 7}"><h3>Seção {i + 1}</h3><p>{sentence} {sentence}</p></section>\n'
        parts.append(chunk)
        size += len(chunk.encode())
        i += 1
    return "".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate Hunter's offline demo world.")
    parser.add_argument("--out", type=Path, default=DATA_DIR)
    parser.add_argument("--companies", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    world = generate_world(args.companies, args.seed)
    world.write(args.out)
    print(f"wrote {len(world.companies)} rows, {len(world.sites)} sites to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
