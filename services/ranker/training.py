"""A training read from the stream: the lead book up to a stream position, the model, its file and
its event. Used by the ranker service and by anyone who checks a training again (a replay reads the
same events up to the same position with the same ``as_of`` and must get the same model bytes)."""

from __future__ import annotations

import asyncio
import os
from datetime import datetime
from pathlib import Path
from typing import Literal

from services.ranker.history import SUBJECTS, LeadBook, train_from_book
from services.ranker.model import RankerConfig, TrainingReport
from shared.bus import Bus
from shared.events import FeatureImportance, RankingTrained

MODEL_DIR = "ranking"  # under the data dir, beside the vault


async def read_book(bus: Bus, end_seq: int, subjects: tuple[str, ...] = SUBJECTS) -> LeadBook:
    """The lead book from the stream's events up to ``end_seq``."""
    book = LeadBook()
    for subject in subjects:
        if not await bus.count(subject):
            continue
        async for stored in bus.read(subject, end_seq=end_seq):
            book.add(stored.seq, stored.envelope)  # type: ignore[union-attr]
    return book


def model_path(data_dir: Path, sha256: str) -> Path:
    return data_dir / MODEL_DIR / f"{sha256}.model"


def write_model(data_dir: Path, report: TrainingReport) -> str | None:
    """Store the model file (named by its content hash, written atomically); returns its name."""
    if not report.model_bytes or report.sha256 is None:
        return None
    path = model_path(data_dir, report.sha256)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_bytes(report.model_bytes)
        tmp.replace(path)
    return path.name


def trained_event(report: TrainingReport, *, version: int, trigger: Literal["outcomes", "request"], trigger_seq: int,
                  as_of: datetime, outcomes: int, leads_known: int, model_file: str | None) -> RankingTrained:
    return RankingTrained(
        version=version, status=report.status, trigger=trigger, trigger_seq=trigger_seq, as_of=as_of.isoformat(),
        model_kind=report.kind, outcomes=outcomes, labelled=report.labelled, positives=report.positives,
        negatives=report.negatives,
        leads_known=leads_known, cv_auc=report.cv_auc, cv_precision_at_10=report.cv_precision_at_10,
        candidates=report.candidates, columns=report.columns,
        importances=[FeatureImportance(feature=f, importance=v) for f, v in report.importances],
        model_sha256=report.sha256, model_file=model_file, reason=report.reason,
    )


async def train_at(bus: Bus, end_seq: int, as_of: datetime, cfg: RankerConfig,
                   no_reply_days: float) -> tuple[TrainingReport, LeadBook]:
    """Train on what the stream holds up to ``end_seq``, outcomes as of ``as_of``."""
    book = await read_book(bus, end_seq)
    return await asyncio.to_thread(train_from_book, book, as_of, cfg, no_reply_days), book


async def reproduce(bus: Bus, event: RankingTrained, cfg: RankerConfig, no_reply_days: float) -> TrainingReport:
    """The training an event records, done again from the stream (its model bytes must hash the same)."""
    report, _ = await train_at(bus, event.trigger_seq, datetime.fromisoformat(event.as_of), cfg, no_reply_days)
    return report
