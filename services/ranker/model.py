"""The learned ranking: training by cross-validation, propensities and what moved them.

- Below ``min_labels`` outcomes (default 30), or with one class only, there is no model: the
  ranking is the ICP score (cold start).
- Candidates: logistic regression (three regularisation strengths), and
  ``HistGradientBoostingClassifier`` too once there are ``hgb_min_labels`` outcomes. Each is
  scored by stratified k-fold cross-validation (seeded; 5 folds, 3 from 1,000 outcomes, on a
  stratified sample of at most 3,000 outcomes); the best cross-validated AUC wins (a tie goes to
  the first: the most regularised logistic model). The winner is refit on every outcome.
- Seeds are fixed and fitting runs on one thread, so the same outcomes give the same model and
  the same bytes (``TrainedModel.to_bytes``; ``sha256`` is their content hash).
- A feature's contribution to a lead's propensity is the change in log-odds when that feature is
  set to its training mean; a feature's importance is the mean absolute contribution over (a
  sample of) the training rows. For the logistic model both are exact, ``coef * (x - mean)``.
"""

from __future__ import annotations

import hashlib
import io
import math
import pickle
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, train_test_split
from threadpoolctl import threadpool_limits

from services.ranker.features import FeatureSpace, LeadFacts, feature_row

ModelKind = Literal["logistic", "hgb"]
FORMAT = 1  # of the model file


@dataclass(frozen=True)
class RankerConfig:
    min_labels: int = 30
    hgb_min_labels: int = 500  # boosting competes from here (bench: at 300 outcomes CV picked it on noise, and lost)
    folds: int = 5
    big_folds: int = 3  # folds once there are ``big_labels`` outcomes (each fold has enough of them)
    big_labels: int = 1000
    seed: int = 0
    top_share: float = 0.10
    cv_max_rows: int = 3000  # cross-validation on a seeded stratified sample of at most this many outcomes
    importance_rows: int = 200  # training rows sampled for a boosted model's importances
    top_importances: int = 20


def precision_at(y: np.ndarray, score: np.ndarray, share: float = 0.10) -> float:
    """Share of positives among the top ``share`` of leads by score (ties: first in order)."""
    if len(y) == 0:
        return 0.0
    k = max(1, math.ceil(share * len(y)))
    top = np.argsort(-score, kind="stable")[:k]
    return float(np.mean(y[top]))


def auc(y: np.ndarray, score: np.ndarray) -> float | None:
    if len(set(y.tolist())) < 2:
        return None
    return float(roc_auc_score(y, score))


LOGISTIC_C = (0.05, 0.2, 1.0)  # inverse regularisation strengths tried (stronger first: ties go to it)


def _candidate(name: str) -> tuple[ModelKind, float]:
    """``"logistic C=0.2"`` -> ("logistic", 0.2); ``"hgb"`` -> ("hgb", 0)."""
    kind, _, c = name.partition(" C=")
    return ("logistic", float(c)) if kind == "logistic" else ("hgb", 0.0)


def _estimator(name: str, seed: int) -> Any:
    kind, c = _candidate(name)
    if kind == "logistic":
        return LogisticRegression(C=c, max_iter=2000, random_state=seed)
    return HistGradientBoostingClassifier(
        learning_rate=0.12, max_iter=60, max_leaf_nodes=15, min_samples_leaf=20, l2_regularization=1.0,
        max_bins=63, early_stopping=False, random_state=seed,
    )


@dataclass
class TrainedModel:
    """A fitted model with its feature space and the training means (the contributions' baseline)."""

    kind: ModelKind
    space: FeatureSpace
    estimator: Any
    baseline: np.ndarray
    as_of: date

    def logits(self, X: np.ndarray) -> np.ndarray:
        with threadpool_limits(1):
            return np.asarray(self.estimator.decision_function(X), dtype=np.float64)

    def propensity(self, X: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.logits(X)))

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """Per row and column: log-odds of the row minus log-odds with that column at its mean."""
        if self.kind == "logistic":
            return (X - self.baseline) * self.estimator.coef_[0]
        n, d = X.shape
        out = np.zeros((n, d))
        base = self.logits(X)
        per_chunk = max(1, 50_000 // max(1, d))  # rows probed at once (d probes each)
        diagonal = np.arange(d)
        for start in range(0, n, per_chunk):
            rows = X[start:start + per_chunk]
            probe = np.repeat(rows, d, axis=0).reshape(len(rows), d, d)
            probe[:, diagonal, diagonal] = self.baseline
            out[start:start + len(rows)] = base[start:start + len(rows), None] - self.logits(
                probe.reshape(len(rows) * d, d)).reshape(len(rows), d)
        return out

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        pickle.Pickler(buf, protocol=5).dump((FORMAT, self.kind, self.space.columns, self.estimator,
                                              self.baseline, self.as_of.isoformat()))
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> TrainedModel:
        """A model file this module wrote (from the data dir: trusted, never from the web)."""
        fmt, kind, columns, estimator, baseline, as_of = pickle.loads(data)  # noqa: S301 - our own file
        if fmt != FORMAT:
            raise ValueError(f"model file format {fmt} is not {FORMAT}")
        return cls(kind, FeatureSpace(tuple(columns)), estimator, baseline, date.fromisoformat(as_of))


@dataclass
class TrainingReport:
    status: Literal["trained", "cold_start"]
    labelled: int
    positives: int
    negatives: int
    kind: ModelKind | None = None
    cv_auc: float | None = None
    cv_precision_at_10: float | None = None
    candidates: dict[str, float | None] = field(default_factory=dict)  # candidate -> cross-validated AUC
    candidate: str | None = None  # the one chosen, e.g. "logistic C=0.2"
    importances: list[tuple[str, float]] = field(default_factory=list)
    columns: int = 0
    reason: str = ""
    model: TrainedModel | None = None
    model_bytes: bytes = b""

    @property
    def sha256(self) -> str | None:
        return hashlib.sha256(self.model_bytes).hexdigest() if self.model_bytes else None


def _cv_sample(X: np.ndarray, y: np.ndarray, cfg: RankerConfig) -> tuple[np.ndarray, np.ndarray]:
    """The outcomes the candidates are compared on: all, or a seeded stratified sample of ``cv_max_rows``."""
    if len(y) <= cfg.cv_max_rows:
        return X, y
    _, keep = train_test_split(np.arange(len(y)), test_size=cfg.cv_max_rows, stratify=y, random_state=cfg.seed)
    keep = np.sort(keep)
    return X[keep], y[keep]


def _cross_validate(kind: str, X: np.ndarray, y: np.ndarray, cfg: RankerConfig) -> np.ndarray | None:
    """Out-of-fold predictions, or None when a class is too small to fold."""
    folds = min(cfg.big_folds if len(y) >= cfg.big_labels else cfg.folds, int(y.sum()), int(len(y) - y.sum()))
    if folds < 2:
        return None
    oof = np.zeros(len(y))
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=cfg.seed).split(X, y):
        est = _estimator(kind, cfg.seed).fit(X[train], y[train])
        oof[test] = est.decision_function(X[test])
    return oof


def train(facts: Sequence[LeadFacts], labels: Sequence[bool], as_of: date,
          cfg: RankerConfig | None = None) -> TrainingReport:
    """Learn propensity from labelled leads (``labels[i]`` is the outcome of ``facts[i]``)."""
    cfg = cfg or RankerConfig()
    if len(facts) != len(labels):
        raise ValueError("one label per lead")
    order = sorted(range(len(facts)), key=lambda i: facts[i].lead_key)  # input order does not matter
    facts = [facts[i] for i in order]
    y = np.array([1 if labels[i] else 0 for i in order], dtype=np.int64)
    pos = int(y.sum())
    report = TrainingReport("cold_start", len(y), pos, len(y) - pos)
    if len(y) < cfg.min_labels:
        report.reason = f"{len(y)} outcomes, fewer than {cfg.min_labels}: ranking by ICP score"
        return report
    if pos == 0 or pos == len(y):
        report.reason = "every outcome is of one kind: ranking by ICP score"
        return report
    rows = [feature_row(f, as_of) for f in facts]
    space = FeatureSpace.fit(rows)
    X = space.matrix(rows)
    kinds = [f"logistic C={c:g}" for c in LOGISTIC_C] + (["hgb"] if len(y) >= cfg.hgb_min_labels else [])
    best: tuple[float, str, np.ndarray | None] | None = None
    X_cv, y_cv = _cv_sample(X, y, cfg)
    with threadpool_limits(1):
        for kind in kinds:
            oof = _cross_validate(kind, X_cv, y_cv, cfg)
            score = auc(y_cv, oof) if oof is not None else None
            report.candidates[kind] = score
            if best is None or (score is not None and score > best[0]):
                best = (score if score is not None else -1.0, kind, oof)
        assert best is not None
        _, name, oof = best
        estimator = _estimator(name, cfg.seed).fit(X, y)
    kind = _candidate(name)[0]
    model = TrainedModel(kind, space, estimator, X.mean(axis=0), as_of)
    report.status, report.kind, report.model, report.columns = "trained", kind, model, len(space.columns)
    report.candidate = name
    if oof is not None:
        report.cv_auc = report.candidates[name]
        report.cv_precision_at_10 = precision_at(y_cv, oof, cfg.top_share)
    sample = X
    if kind != "logistic" and len(X) > cfg.importance_rows:
        sample = X[np.random.default_rng(cfg.seed).choice(len(X), cfg.importance_rows, replace=False)]
    mean_abs = np.abs(model.contributions(sample)).mean(axis=0)
    top = sorted(range(len(space.columns)), key=lambda j: (-mean_abs[j], space.columns[j]))[:cfg.top_importances]
    report.importances = [(space.columns[j], round(float(mean_abs[j]), 6)) for j in top if mean_abs[j] > 0]
    report.model_bytes = model.to_bytes()
    return report


@dataclass(frozen=True, slots=True)
class Propensity:
    lead_key: str
    propensity: float  # 0..1 (model) or the ICP score / 100 (cold start)
    source: Literal["model", "icp"]
    top_features: tuple[tuple[str, float], ...] = ()  # (feature, log-odds it added), biggest moves first


def score_leads(model: TrainedModel | None, facts: Sequence[LeadFacts], *, explain: int = 3,
                chunk: int = 20_000) -> list[Propensity]:
    """Each lead's propensity (cold start without a model: the ICP score) and its ``explain`` top features."""
    if model is None:
        return [Propensity(f.lead_key, f.icp_score / 100, "icp") for f in facts]
    out: list[Propensity] = []
    columns = model.space.columns
    for start in range(0, len(facts), chunk):
        part = facts[start:start + chunk]
        X = model.space.matrix([feature_row(f, model.as_of) for f in part])
        p = model.propensity(X)
        contrib = model.contributions(X) if explain else None
        for i, f in enumerate(part):
            top: tuple[tuple[str, float], ...] = ()
            if contrib is not None:
                row = contrib[i]
                idx = np.argsort(-np.abs(row), kind="stable")[:explain]
                top = tuple((columns[j], round(float(row[j]), 4)) for j in idx if row[j] != 0)
            out.append(Propensity(f.lead_key, float(p[i]), "model", top))
    return out
