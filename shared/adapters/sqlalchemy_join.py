"""SQLAlchemy's internals for a custom join construct: the traversal list its SQL cache key is built
from (``Join._traverse_internals``) and the per-element compile dispatch (through the public
``compiler.process``).
for :class:`DrivenJoin` (the vault list's page queries: ``services/gateway/lead_pages.py``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.selectable import Join
from sqlalchemy.sql.visitors import InternalTraversal

# what makes two joins the same SQL (the statement cache's key): Join's own attributes and the index names
JOIN_TRAVERSAL = [*Join._traverse_internals, ("left_index", InternalTraversal.dp_string),
                  ("right_index", InternalTraversal.dp_string)]


class DrivenJoin(Join):
    """An inner join that SQLite runs in the written order, left table outer, each table read
    through the index named for it (when one is). Other databases get a plain ``JOIN``."""

    inherit_cache = True
    _traverse_internals = JOIN_TRAVERSAL

    def __init__(self, left: Any, right: Any, onclause: Any, *, left_index: str | None = None,
                 right_index: str | None = None) -> None:
        super().__init__(left, right, onclause)
        self.left_index, self.right_index = left_index, right_index


@compiles(DrivenJoin)
def _plain_join(join: DrivenJoin, compiler: Any, **kw: Any) -> str:
    return compiler.visit_join(join, **kw)


@compiles(DrivenJoin, "sqlite")
def _sqlite_join(join: DrivenJoin, compiler: Any, **kw: Any) -> str:
    kw.pop("asfrom", None)
    if (linter := kw.get("from_linter")) is not None:
        linter.edges.add((join.left, join.right))

    def side(table: Any, index: str | None) -> str:
        text = compiler.process(table, asfrom=True, **kw)
        return f"{text} INDEXED BY {compiler.preparer.quote(index)}" if index else text

    return (f"{side(join.left, join.left_index)} CROSS JOIN {side(join.right, join.right_index)} ON "
            f"{compiler.process(join.onclause, **kw)}")
