"""The sales funnel of one lead (a company), across runs: its states, the transitions allowed
between them, and the kinds of activity a person records on a lead. Pure vocabulary shared by the
gateway (validation), the projector (the vault's funnel tables), the ranker (outcomes as labels)
and the agenda (lanes)."""

from __future__ import annotations

from typing import Literal, get_args

FunnelState = Literal["new", "queued", "contacted", "replied", "meeting", "won", "lost", "do_not_contact"]
FUNNEL_STATES: tuple[str, ...] = get_args(FunnelState)

ActivityKind = Literal["note", "call", "email", "whatsapp", "meeting", "task"]
ACTIVITY_KINDS: tuple[str, ...] = get_args(ActivityKind)

CLOSED_STATES = frozenset({"won", "lost", "do_not_contact"})
POSITIVE_STATES = frozenset({"replied", "meeting", "won"})  # outcomes a ranking learns as positive
NEGATIVE_STATES = frozenset({"lost"})  # (and "contacted with no reply after a window", decided by the ranker)

# forward moves of an open lead; ``do_not_contact`` (an opt-out) is allowed from every state
_FORWARD: dict[str, tuple[str, ...]] = {
    "new": ("queued", "contacted", "lost"),
    "queued": ("new", "contacted", "lost"),
    "contacted": ("replied", "meeting", "lost"),
    "replied": ("meeting", "won", "lost"),
    "meeting": ("won", "lost"),
    "won": (),
    "lost": (),
    "do_not_contact": (),
}
# a closed lead (won, lost, do_not_contact) moves again only by an explicit reopen, to one of these
REOPEN_TO: tuple[str, ...] = ("new", "queued", "contacted")


class TransitionRefused(ValueError):
    """A move the funnel does not allow; ``allowed`` lists the states that may follow."""

    def __init__(self, current: str, target: str, allowed: tuple[str, ...], *, reopen: bool = False) -> None:
        self.current, self.target, self.allowed = current, target, allowed
        how = "reopen" if reopen else "move"
        super().__init__(f"cannot {how} a lead from {current!r} to {target!r}; allowed: {', '.join(allowed) or 'none'}")


def allowed_next(current: str, *, reopen: bool = False) -> tuple[str, ...]:
    """The states a lead in ``current`` may move to (with ``reopen``: from a closed state)."""
    if reopen:
        return REOPEN_TO if current in CLOSED_STATES else ()
    nxt = _FORWARD.get(current, ())
    return nxt if current == "do_not_contact" else (*nxt, "do_not_contact")


def check_transition(current: str, target: str, *, reopen: bool = False) -> None:
    """Raise :class:`TransitionRefused` unless ``current`` → ``target`` is allowed."""
    allowed = allowed_next(current, reopen=reopen)
    if target not in allowed:
        raise TransitionRefused(current, target, allowed, reopen=reopen)


def is_closed(state: str) -> bool:
    return state in CLOSED_STATES
