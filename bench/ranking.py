"""Ranking benchmark: does a ranking learned from outcomes beat the hand-set ICP score?

A simulated world: demo worlds from the same traits machinery as the bundled sample (one per seed,
``hunter.demo.outcomes.more_worlds``), each read, cleaned and scored by the real pure stages (CSV
source, cleaner, scorer v1 with the software-b2b profile, scorer v2 with an enrichment made from the
company's demo site). Every lead has a hidden propensity (``hunter.demo.outcomes``), which the ICP
score only partly sees.

Leads are contacted in a random order (seeded) and their funnel histories simulated; the labels
are read from those histories by the ranker's own rule (``outcome_labels``, 21-day window). After
100 / 300 / 1,000 outcomes, three rankings are compared on held-out leads the model never saw
(their outcome drawn from the same propensity): (a) random, (b) the ICP score, (c) the learned
ranking. Figures: precision@10% (share of positives among the top tenth) and AUC, averaged over
``--repeats`` contact orders. Speed: training on 10,000 labelled leads (cross-validation of both
candidate models, the refit and the importances), and scoring 100,000 leads (features, matrix and
propensity, no per-lead explanation); wall-clock and this process's CPU seconds (the machine is shared).

The last line printed is one JSON object with ``lift_p10_at_300`` (learned precision@10% / the ICP
score's, at 300 outcomes), ``auc_at_300``, ``train_s_10k``, ``score_s_100k`` and the table.
A diagnostic column, the *ceiling*: a logistic model on the hidden propensity's own terms (perfect features),
trained on the same outcomes. On the full bench it reaches ~1.5x the ICP score's precision@10% at 300
outcomes: the goal is what a learner gets with perfect features; the learned ranking's gap to it is the cost
of learning which of its ~160 generic columns matter from 300 outcomes.
Run: ``python bench/ranking.py --quick`` (3 worlds of 2,000 companies, 2 repeats; full: 6 worlds, 5 repeats).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from hunter.demo.outcomes import (  # noqa: E402
    CHAT,
    INTERIOR_SP,
    KIND_OF_CNAE_PREFIX,
    MARKETING,
    company_sites,
    hidden_propensity,
    more_worlds,
    simulate_funnel,
)
from hunter.demo.sample_data import World  # noqa: E402
from services.cleaner.logic import clean_run  # noqa: E402
from services.extractor.sources.csv_source import iter_csv  # noqa: E402
from services.ranker.features import LeadFacts  # noqa: E402
from services.ranker.labels import FunnelEvent, outcome_labels  # noqa: E402
from services.ranker.model import RankerConfig, auc, precision_at, score_leads, train  # noqa: E402
from services.scorer.logic import score_leads as icp_score_leads  # noqa: E402
from services.scorer.logic import score_v2  # noqa: E402
from shared.domain.icp import load_icp  # noqa: E402
from shared.events import RunFilters  # noqa: E402
from shared.schemas import CompanyRecord, Enrichment, Technology  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
AS_OF = date(2026, 11, 1)
START = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
SIZES = (100, 300, 1000)


def _categories() -> dict[str, list[str]]:
    doc = json.loads((REPO / "services/enricher/fingerprints/hunter.json").read_text(encoding="utf-8"))
    return {name: list(t.get("cats") or []) for name, t in doc["technologies"].items()}


def enrichment_from_site(lead_key: str, site: dict | None, cats: dict[str, list[str]]) -> Enrichment:
    """What the enricher would have found on the company's demo site (no fetch)."""
    if site is None:
        return Enrichment(lead_key=lead_key, status="no_site")
    return Enrichment(
        lead_key=lead_key, status="ok", site=f"https://{site['domain']}/", domain=site["domain"], verified=True,
        verified_by=["registry_id"], confidence=0.9, emails=list(site.get("emails") or []),
        phones=list(site.get("phones") or []), whatsapp=[site["whatsapp"]] if site.get("whatsapp") else [],
        socials=dict(site.get("socials") or {}), google_maps_url=site.get("maps_url"),
        technologies=[Technology(name=t, categories=cats.get(t, [])) for t in site.get("technologies") or []],
    )


def world_leads(world: World, cats: dict[str, list[str]]) -> list[tuple[LeadFacts, float]]:
    """The world's active leads as the pipeline sees them, each with its hidden propensity."""
    icp = load_icp("software-b2b")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "companies.csv"
        path.write_text(world.csv_text, encoding="utf-8")
        companies = [r for r in iter_csv(path, RunFilters()) if isinstance(r, CompanyRecord)]
    rows = {r["cnpj"]: r for r in world.companies}
    sites = company_sites(world)
    scored = icp_score_leads(clean_run(companies).leads, icp, AS_OF, 1.0)
    out = []
    for s in scored:
        key, cnpj = s.lead.lead_key, s.lead.company.registry_id
        enrichment = enrichment_from_site(key, sites.get(cnpj), cats)
        facts = LeadFacts(key, s, enrichment, score_v2(s, enrichment, icp))
        out.append((facts, hidden_propensity(rows[cnpj], sites.get(cnpj))))
    return out


def hidden_terms(f: LeadFacts) -> list[float]:
    """The hidden propensity's own terms (``hunter.demo.outcomes.hidden_logit``) read from a lead's facts: a
    diagnostic only. A logistic model on them is the best a learner could be with perfect features; the gap
    between it and the learned ranking is what the ranker's features cost at that many outcomes."""
    assert f.scored is not None
    c = f.scored.lead.company
    prefix = (c.activity_main or "")[:2]
    age = AS_OF.year - int(c.opened_on[:4]) if c.opened_on and c.opened_on[:4].isdigit() else -1
    capital = c.capital or 0.0
    techs = {t.name for t in f.enrichment.technologies} if f.enrichment is not None else set()
    emails = f.scored.lead.emails
    return [KIND_OF_CNAE_PREFIX.get(prefix, -0.2), float(3 <= age <= 12), float(0 <= age < 3),
            float(100_000 <= capital <= 1_200_000), float(capital > 1_200_000),
            float((c.size or "").startswith("EMPRESA DE PEQUENO")), float((c.size or "") == "DEMAIS"),
            float((c.address.city or "") in INTERIOR_SP), float(c.address.state == "RJ"),
            float(bool(emails) and all(e.free_mail for e in emails)), float(len(c.activities_secondary) >= 2),
            float(bool(techs & MARKETING)), float(bool(techs & CHAT)), float("Wix" in techs)]


def ceiling_scores(train_facts: list[LeadFacts], y: list[bool], test_facts: list[LeadFacts]) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression
    X = np.array([hidden_terms(f) for f in train_facts])
    model = LogisticRegression(C=1.0, max_iter=2000).fit(X, np.array(y, dtype=int))
    return model.decision_function(np.array([hidden_terms(f) for f in test_facts]))


def evaluate(pool: list[tuple[LeadFacts, float]], test: list[tuple[LeadFacts, int]], repeat: int,
             cfg: RankerConfig) -> dict[int, dict[str, float | str | None]]:
    """Contact the pool in a random order, learn from the first N outcomes, rank the test leads."""
    rng = random.Random(1000 + repeat)
    order = list(pool)
    rng.shuffle(order)
    order = order[: max(SIZES)]
    steps = simulate_funnel([(f.lead_key, p) for f, p in order], seed=2000 + repeat, start=START)
    by_key = {f.lead_key: f for f, _ in order}
    contact_rank = {f.lead_key: i for i, (f, _) in enumerate(order)}
    as_of = START + timedelta(hours=2) * len(order) + timedelta(days=60)
    labels = outcome_labels([FunnelEvent(k, s, t) for k, s, t in steps], as_of)
    decided = sorted(labels.values(), key=lambda lab: contact_rank[lab.lead_key])
    y_test = np.array([y for _, y in test])
    icp = np.array([f.icp_score for f, _ in test])
    noise = np.random.default_rng(repeat).random(len(test))
    out: dict[int, dict[str, float | str | None]] = {}
    for n in SIZES:
        first = decided[:n]
        report = train([by_key[lab.lead_key] for lab in first], [lab.positive for lab in first], AS_OF, cfg)
        learned = np.array([p.propensity for p in score_leads(report.model, [f for f, _ in test], explain=0)])
        ceiling = ceiling_scores([by_key[lab.lead_key] for lab in first], [lab.positive for lab in first],
                                 [f for f, _ in test])
        out[n] = {
            "p10_ceiling": precision_at(y_test, ceiling), "auc_ceiling": auc(y_test, ceiling),
            "p10_random": precision_at(y_test, noise), "p10_icp": precision_at(y_test, icp + noise * 1e-6),
            "p10_learned": precision_at(y_test, learned + noise * 1e-9),
            "auc_random": auc(y_test, noise), "auc_icp": auc(y_test, icp), "auc_learned": auc(y_test, learned),
            "model": report.kind or "icp (cold start)", "positives": report.positives,
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeats", type=int)
    args = ap.parse_args()
    n_worlds, repeats = (3, 2) if args.quick else (6, 5)
    repeats = args.repeats or repeats
    cfg = RankerConfig()
    cats = _categories()
    t0 = time.perf_counter()
    leads = [lead for w in more_worlds(range(101, 101 + n_worlds)) for lead in world_leads(w, cats)]
    seen: set[str] = set()
    leads = [lead for lead in leads if not (lead[0].lead_key in seen or seen.add(lead[0].lead_key))]
    print(f"world: {len(leads)} active leads from {n_worlds} worlds in {time.perf_counter() - t0:.1f} s, "
          f"mean hidden propensity {np.mean([p for _, p in leads]):.3f}")
    split = random.Random(7)
    shuffled = list(leads)
    split.shuffle(shuffled)
    n_test = len(shuffled) // 2
    outcome = random.Random(8)
    test = [(f, int(outcome.random() < p)) for f, p in shuffled[:n_test]]
    hidden = np.array([p for _, p in shuffled[:n_test]])
    y_all = np.array([y for _, y in test])
    oracle = {"p10": round(precision_at(y_all, hidden), 4), "auc": round(float(auc(y_all, hidden) or 0), 4)}
    pool = shuffled[n_test:]

    runs = [evaluate(pool, test, r, cfg) for r in range(repeats)]
    table: dict[str, dict[str, float | str | None]] = {}
    print(f"held-out leads: {len(test)}, positives {sum(y for _, y in test)}; averaged over {repeats} contact orders; "
          f"ranking by the hidden propensity itself: p10 {oracle['p10']}, AUC {oracle['auc']}")
    print(f"{'outcomes':>8} {'p10 random':>10} {'p10 ICP':>8} {'p10 learned':>11} {'AUC random':>10} "
          f"{'AUC ICP':>8} {'AUC learned':>11}  models   (ceiling: logistic on the hidden terms, p10 / AUC)")
    for n in SIZES:
        row: dict[str, float | str | None] = {}
        for key in ("p10_random", "p10_icp", "p10_learned", "auc_random", "auc_icp", "auc_learned", "p10_ceiling",
                    "auc_ceiling"):
            values = [float(r[n][key]) for r in runs if r[n][key] is not None]  # type: ignore[arg-type]
            row[key] = round(float(np.mean(values)), 4) if values else None
        row["models"] = ",".join(sorted({str(r[n]["model"]) for r in runs}))
        table[str(n)] = row
        print(f"{n:>8} {row['p10_random']:>10} {row['p10_icp']:>8} {row['p10_learned']:>11} {row['auc_random']:>10} "
              f"{row['auc_icp']:>8} {row['auc_learned']:>11}  {row['models']}   ({row['p10_ceiling']} / "
              f"{row['auc_ceiling']})")

    # speed: 10k labelled leads (the world's leads, repeated with new keys when fewer), 100k scored
    base = [f for f, _ in leads]
    label_rng = random.Random(9)
    p_of = {f.lead_key: p for f, p in leads}
    many = [replace(base[i % len(base)], lead_key=f"{base[i % len(base)].lead_key}#{i}") for i in range(10_000)]
    y_many = [label_rng.random() < p_of[f.lead_key.split("#")[0]] for f in many]
    t, c = time.perf_counter(), time.process_time()
    report = train(many, y_many, AS_OF, cfg)
    train_s, train_cpu = time.perf_counter() - t, time.process_time() - c
    print(f"train 10k: {train_s:.2f} s, {train_cpu:.2f} s CPU, model {report.kind}, CV AUC {report.cv_auc:.3f}, "
          f"candidates {report.candidates}, {report.columns} columns")
    hundred = [replace(base[i % len(base)], lead_key=f"k{i}") for i in range(100_000)]
    t, c = time.perf_counter(), time.process_time()
    scores = score_leads(report.model, hundred, explain=0)
    score_s, score_cpu = time.perf_counter() - t, time.process_time() - c
    print(f"score 100k: {score_s:.2f} s, {score_cpu:.2f} s CPU ({len(scores)} leads)")
    p300 = table["300"]
    lift = round(float(p300["p10_learned"]) / float(p300["p10_icp"]), 3) if p300["p10_icp"] else None  # type: ignore[arg-type]
    print(json.dumps({
        "lift_p10_at_300": lift, "auc_at_300": p300["auc_learned"], "auc_icp_at_300": p300["auc_icp"],
        "ceiling_lift_p10_at_300": round(float(p300["p10_ceiling"]) / float(p300["p10_icp"]), 3)  # type: ignore[arg-type]
        if p300["p10_icp"] else None,
        "train_s_10k": round(train_s, 2), "score_s_100k": round(score_s, 2),
        "train_cpu_s_10k": round(train_cpu, 2), "score_cpu_s_100k": round(score_cpu, 2), "model_10k": report.kind,
        "oracle": oracle, "held_out": len(test), "leads": len(leads), "repeats": repeats, "table": table,
    }))


if __name__ == "__main__":
    main()
