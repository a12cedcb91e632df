"""Ranker: learns who to contact next from the funnel's outcomes.

It follows the funnel (``lead.status.*``): when at least ``RANKER_RETRAIN_EVERY`` outcomes (default
30) were decided since the last training, and at least ``RANKER_MIN_LABELS`` in all, it trains; a
``ranking.requested`` event (``hunter rank train``) trains at once. A training reads the stream up
to the triggering event, labels outcomes as of that event's time, stores the model file under
``<data dir>/ranking/`` and publishes ``ranking.trained`` (``RankingTrained``), then every known
lead's propensity and the next-leads list (``ranking.leads``, ``LeadsRanked`` batches). Below the minimum,
an asked-for training publishes a ``cold_start`` event: the ICP score ranks.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from services.ranker.history import rank_book
from services.ranker.labels import FunnelEvent, funnel_event_of, outcome_labels
from services.ranker.model import RankerConfig
from services.ranker.training import train_at, trained_event, write_model
from shared.events import Envelope, LeadsRanked, LeadStatusChanged, RankingRequested, RankingTrained, Subjects
from shared.service import Ctx, Service

service = Service("ranker")
app = service.app


@dataclass
class Ranker:
    """The ranker's per-process state: settings, and the funnel read so far (for the trigger's count)."""

    cfg: RankerConfig
    retrain_every: int
    no_reply_days: float
    explore_share: float
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    funnel: list[FunnelEvent] = field(default_factory=list)
    funnel_seq: int = 0


settings = service.settings
ranker = Ranker(RankerConfig(min_labels=settings.ranker_min_labels), settings.ranker_retrain_every,
                settings.ranker_no_reply_days, settings.ranker_explore_share)


async def last_trained() -> RankingTrained | None:
    stored = await service.bus.last(Subjects.RANKING_TRAINED)
    event = stored.event() if stored is not None else None
    return event if isinstance(event, RankingTrained) else None


async def outcomes_due(seq: int, as_of: datetime) -> bool:
    """Whether enough outcomes were decided, as of the event at ``seq``, since the last training."""
    async for stored in service.bus.read("lead.status.*", start_seq=ranker.funnel_seq + 1, end_seq=seq):
        change = funnel_event_of(stored.envelope, stored.seq)  # type: ignore[union-attr]
        if change is not None:
            ranker.funnel.append(change)
        ranker.funnel_seq = max(ranker.funnel_seq, stored.seq)  # type: ignore[union-attr]
    labelled = len(outcome_labels([e for e in ranker.funnel if e.seq <= seq], as_of, ranker.no_reply_days))
    last = await last_trained()
    since = labelled - (last.outcomes if last is not None else 0)
    return labelled >= ranker.cfg.min_labels and since >= ranker.retrain_every


async def train_now(trigger: Literal["outcomes", "request"], seq: int, as_of: datetime, cause: Envelope) -> None:
    report, book = await train_at(service.bus, seq, as_of, ranker.cfg, ranker.no_reply_days)
    model_file = await asyncio.to_thread(write_model, settings.data_dir, report)
    version = await service.bus.count(Subjects.RANKING_TRAINED) + 1
    event = trained_event(report, version=version, trigger=trigger, trigger_seq=seq, as_of=as_of,
                          outcomes=len(book.labels(as_of, ranker.no_reply_days)), leads_known=len(book.scored),
                          model_file=model_file)
    await service.bus.publish(event, key=(trigger, seq), causation_id=cause.event_id)
    if report.model is not None and report.sha256 is not None:
        ranked = await asyncio.to_thread(rank_book, book, report.model, as_of, explore_share=ranker.explore_share,
                                         no_reply_days=ranker.no_reply_days)
        size = max(1, settings.batch_size)
        batches = max(1, -(-len(ranked) // size))
        await service.bus.publish_many(
            service.bus.wrap(LeadsRanked(version=version, model_sha256=report.sha256, batch=n, batches=batches,
                                         explore_share=ranker.explore_share, leads=ranked[n * size:(n + 1) * size]),
                             key=(report.sha256, version, n), causation_id=cause.event_id)
            for n in range(batches))
    service.log.info("ranking_trained", status=report.status, model=report.kind, labelled=report.labelled,
                     cv_auc=report.cv_auc, sha256=report.sha256, trigger=trigger)


@service.on("lead.status.*", LeadStatusChanged, durable="ranker")
async def on_lead_status(_: LeadStatusChanged, ctx: Ctx) -> None:
    async with ranker.lock:
        if await outcomes_due(ctx.seq, ctx.env.occurred_at):
            await train_now("outcomes", ctx.seq, ctx.env.occurred_at, ctx.env)


@service.on(Subjects.RANKING_REQUESTED, RankingRequested, durable="ranker-requests")
async def on_ranking_requested(_: RankingRequested, ctx: Ctx) -> None:
    async with ranker.lock:
        await train_now("request", ctx.seq, ctx.env.occurred_at, ctx.env)
