"""The ranker's pure modules: labels from the funnel, the feature matrix, training, cold start,
exploration."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest

from services.ranker.explore import next_leads, segment_of
from services.ranker.features import FeatureSpace, LeadFacts, feature_row
from services.ranker.labels import FunnelEvent, funnel_event_of, outcome_labels
from services.ranker.model import RankerConfig, TrainedModel, precision_at, score_leads, train
from shared.events import LeadStatusChanged, envelope
from tests.ranker_world import facts, world

T0 = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
AS_OF = date(2026, 11, 1)


def ev(key: str, status: str | None, days: float) -> FunnelEvent:
    return FunnelEvent(key, status, T0 + timedelta(days=days))


# ---- labels --------------------------------------------------------------------------------------


def test_replied_meeting_and_won_are_positive_lost_is_negative_and_open_leads_are_not_labels() -> None:
    events = [ev("a", "contacted", 0), ev("a", "replied", 2), ev("b", "contacted", 0), ev("b", "meeting", 3),
              ev("c", "contacted", 0), ev("c", "replied", 1), ev("c", "won", 9), ev("d", "lost", 1),
              ev("e", "queued", 0), ev("f", "new", 0)]
    labels = outcome_labels(events, T0 + timedelta(days=10))
    assert {k: lab.positive for k, lab in labels.items()} == {"a": True, "b": True, "c": True, "d": False}
    assert labels["c"].reason == "replied" and labels["c"].decided_at == T0 + timedelta(days=1)


def test_contacted_without_reply_is_negative_only_after_the_window() -> None:
    events = [ev("a", "contacted", 0)]
    assert outcome_labels(events, T0 + timedelta(days=20, hours=23)) == {}
    late = outcome_labels(events, T0 + timedelta(days=21))
    assert late["a"].positive is False and late["a"].reason == "no_reply"
    assert late["a"].decided_at == T0 + timedelta(days=21)
    assert outcome_labels(events, T0 + timedelta(days=8), no_reply_days=7)["a"].reason == "no_reply"


def test_events_after_as_of_are_not_seen_and_notes_move_nothing() -> None:
    events = [ev("a", "contacted", 0), ev("a", None, 30), ev("a", "replied", 40)]
    assert outcome_labels(events, T0 + timedelta(days=35))["a"].positive is False  # no reply yet then
    assert outcome_labels(events, T0 + timedelta(days=41))["a"].positive is True


def test_opt_out_after_a_contact_is_negative_but_without_a_contact_is_no_label() -> None:
    events = [ev("a", "contacted", 0), ev("a", "do_not_contact", 2), ev("b", "do_not_contact", 1)]
    labels = outcome_labels(events, T0 + timedelta(days=5))
    assert set(labels) == {"a"} and labels["a"].positive is False


def test_a_reply_stays_positive_after_a_reopen_and_a_new_contact() -> None:
    events = [ev("a", "contacted", 0), ev("a", "replied", 1), ev("a", "lost", 5), ev("a", "contacted", 40)]
    assert outcome_labels(events, T0 + timedelta(days=90))["a"].positive is True


def test_funnel_events_are_read_from_lead_status_envelopes() -> None:
    env = envelope(LeadStatusChanged(lead_key="BR:1", status="replied", actor="ana"), occurred_at=T0)
    assert funnel_event_of(env, 7) == FunnelEvent("BR:1", "replied", T0, 7)
    note = envelope(LeadStatusChanged(lead_key="BR:1", note="called"), occurred_at=T0)
    assert funnel_event_of(note) is None
    v1 = env.model_copy(update={"version": 1, "payload": {"run_id": "r1", "lead_key": "BR:1", "status": "won",
                                                          "by": "bob"}})
    assert funnel_event_of(v1) == FunnelEvent("BR:1", "won", T0, 0)


# ---- features ------------------------------------------------------------------------------------


def test_features_cover_activity_prefixes_size_region_age_capital_contacts_and_technologies() -> None:
    row = feature_row(facts(1, techs=("HubSpot",)), AS_OF)
    for name in ("act=6201501", "act2=62", "act3=620", "act4=6201", "size=01", "nature=2062", "region=BR-SP",
                 "phone_whatsapp", "email_corporate", "site", "site_verified", "tech=HubSpot", "techcat=crm",
                 "reason=icp_activity_main", "enrich=ok"):
        assert row[name] == 1.0, name
    assert row["age"] == pytest.approx((AS_OF - date(2018, 5, 1)).days / 365.25 / 20)
    assert 0 < row["capital_log"] < 2 and row["score_v1"] == 0.6 and row["score_v2"] == 0.6


def test_the_same_leads_give_the_same_matrix_whatever_their_order() -> None:
    leads = [facts(i, cnae=random.Random(i).choice(["6201501", "4751201"]), techs=("HubSpot",) * (i % 2))
             for i in range(40)]
    rows = [feature_row(f, AS_OF) for f in leads]
    space = FeatureSpace.fit(rows)
    assert list(space.columns) == sorted(space.columns)
    assert FeatureSpace.fit(list(reversed(rows))) == space
    np.testing.assert_array_equal(space.matrix(rows), FeatureSpace.fit(rows).matrix(rows))
    assert space.matrix([{"never_seen": 1.0}]).sum() == 0.0


# ---- model ---------------------------------------------------------------------------------------


def test_below_the_minimum_labels_the_ranking_is_the_icp_score() -> None:
    leads, labels = world(29)
    report = train(leads, labels, AS_OF)
    assert report.status == "cold_start" and report.model is None and "29 outcomes" in report.reason
    ranked = score_leads(report.model, leads)
    assert [p.source for p in ranked] == ["icp"] * 29
    assert [p.propensity for p in ranked] == [f.icp_score / 100 for f in leads]
    assert train(leads[:1] * 40, [True] * 40, AS_OF).status == "cold_start"  # one kind of outcome only


def test_few_labels_train_a_logistic_model_and_many_let_boosting_compete() -> None:
    leads, labels = world(120)
    few = train(leads, labels, AS_OF)
    assert few.status == "trained" and few.kind == "logistic"
    assert list(few.candidates) == ["logistic C=0.05", "logistic C=0.2", "logistic C=1"]
    assert few.candidate in few.candidates
    assert few.cv_auc is not None and few.cv_auc > 0.6 and few.cv_precision_at_10 is not None
    names = [name for name, _ in few.importances]
    assert "tech=HubSpot" in names[:3] or "tech=Wix" in names[:3]
    many = train(*world(400), AS_OF, RankerConfig(hgb_min_labels=200))
    assert "hgb" in many.candidates and len(many.candidates) == 4
    best = max(many.candidates, key=lambda k: many.candidates[k] or 0)
    assert many.candidate == best and many.kind == ("hgb" if best == "hgb" else "logistic")
    assert many.cv_auc == many.candidates[best]


def test_the_same_outcomes_give_the_same_model_bytes_in_any_order() -> None:
    leads, labels = world(300)
    cfg = RankerConfig(hgb_min_labels=100)
    first = train(leads, labels, AS_OF, cfg)
    order = list(range(len(leads)))
    random.Random(3).shuffle(order)
    second = train([leads[i] for i in order], [labels[i] for i in order], AS_OF, cfg)
    assert first.model_bytes == second.model_bytes and first.sha256 == second.sha256
    model = TrainedModel.from_bytes(first.model_bytes)
    assert model.to_bytes() == first.model_bytes
    other = train(leads[:-1], labels[:-1], AS_OF, cfg)
    assert other.sha256 != first.sha256


def test_propensities_come_with_the_features_that_moved_them() -> None:
    leads, labels = world(200)
    report = train(leads, labels, AS_OF)
    ranked = score_leads(report.model, leads[:20], explain=3)
    assert all(p.source == "model" and 0 < p.propensity < 1 and len(p.top_features) == 3 for p in ranked)
    crm = next(p for p, f in zip(ranked, leads, strict=False) if f.enrichment and f.enrichment.technologies[0].name
               == "HubSpot")
    assert crm.top_features[0][0] in ("tech=HubSpot", "tech=Wix", "techcat=crm") and crm.top_features[0][1] > 0
    # the learned ranking beats the ICP score on leads it did not train on
    test, y = world(600, seed=9)
    learned = np.array([p.propensity for p in score_leads(report.model, test, explain=0)])
    icp = np.array([f.icp_score for f in test])
    assert precision_at(np.array(y), learned) > precision_at(np.array(y), icp)


def test_boosted_model_contributions_explain_its_own_log_odds() -> None:
    leads, labels = world(400)
    report = train(leads, labels, AS_OF, RankerConfig(hgb_min_labels=100))
    model = report.model
    assert model is not None
    hgb = TrainedModel("hgb", model.space, __import__("sklearn.ensemble", fromlist=["x"])
                       .HistGradientBoostingClassifier(max_iter=20, random_state=0), model.baseline, AS_OF)
    X = model.space.matrix([feature_row(f, AS_OF) for f in leads])
    hgb.estimator.fit(X, np.array(labels, dtype=int))
    contrib = hgb.contributions(X[:5])
    for i in range(5):  # setting the biggest mover to its mean changes the log-odds by exactly its contribution
        j = int(np.argmax(np.abs(contrib[i])))
        probe = X[i:i + 1].copy()
        probe[0, j] = model.baseline[j]
        assert hgb.logits(X[i:i + 1])[0] - hgb.logits(probe)[0] == pytest.approx(contrib[i, j])


# ---- exploration ---------------------------------------------------------------------------------


def test_next_leads_explore_the_configured_share_by_seeded_thompson_sampling() -> None:
    cands = [(f"k{i}", 1 - i / 100, f"s{i % 4}") for i in range(100)]
    outcomes = {"s0": (1, 20), "s1": (10, 2), "s2": (0, 0), "s3": (3, 3)}
    picks = next_leads(cands, outcomes, 20, explore_share=0.25, seed=5)
    assert len(picks) == 20 and len({p.lead_key for p in picks}) == 20
    assert sum(p.explored for p in picks) == 5
    assert next_leads(cands, outcomes, 20, explore_share=0.25, seed=5) == picks
    exploit = [p.lead_key for p in next_leads(cands, outcomes, 10, explore_share=0.0)]
    assert exploit == [f"k{i}" for i in range(10)]
    # over many draws the segment with the best posterior is explored most, the worst least
    counts = {s: 0 for s in outcomes}
    for seed in range(200):
        for p in next_leads(cands, outcomes, 10, explore_share=0.1, seed=seed):
            if p.explored:
                counts[p.segment] += 1
    assert counts["s1"] > counts["s3"] > counts["s0"]
    with pytest.raises(ValueError):
        next_leads(cands, outcomes, 5, explore_share=1.5)


def test_segments_are_activity_division_and_size() -> None:
    assert segment_of(facts(1, cnae="6201501", size="03")) == "62/03"
    assert segment_of(LeadFacts("BR:1")) == "unknown"


# ---- the lead book and the ranked leads ----------------------------------------------------------


def test_a_book_ranks_every_lead_and_offers_only_open_ones_next() -> None:
    from services.ranker.history import LeadBook, open_leads, rank_book, train_from_book

    leads, labels = world(120)
    book = LeadBook()
    for f in leads:
        book.scored[f.lead_key] = f.scored  # type: ignore[assignment]
        book.enrichment[f.lead_key] = f.enrichment  # type: ignore[assignment]
    for i, (f, positive) in enumerate(zip(leads[:60], labels, strict=False)):
        book.funnel += [ev(f.lead_key, "contacted", i / 20), ev(f.lead_key, "replied" if positive else "lost", 3.5)]
    book.funnel.append(ev(leads[70].lead_key, "queued", 1))  # queued is still open
    as_of = T0 + timedelta(days=5)
    assert len(open_leads(book, as_of)) == 60 and leads[70].lead_key in open_leads(book, as_of)
    report = train_from_book(book, as_of, RankerConfig())
    assert report.status == "trained" and report.labelled == 60
    ranked = rank_book(book, report.model, as_of, n_next=20, explore_share=0.2, explain_top=10)  # type: ignore[arg-type]
    assert [r.lead_key for r in ranked] == sorted(f.lead_key for f in leads)
    placed = sorted((r.next_rank, r.lead_key) for r in ranked if r.next_rank is not None)
    assert [n for n, _ in placed] == list(range(1, 21))
    contacted = {f.lead_key for f in leads[:60]}
    assert not contacted & {k for _, k in placed}
    assert sum(r.explored for r in ranked) == 4
    assert sum(bool(r.top_features) for r in ranked) == 10  # the ten best explained
    assert rank_book(book, report.model, as_of, n_next=20, explain_top=10) == ranked  # type: ignore[arg-type]
