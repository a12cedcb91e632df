"""The standard library's regular-expression parser (``re._parser``, ``re._constants``: private).

The enricher's fingerprint prefilter reads a pattern's parse tree to find the literals any match
must contain. This module is the only one that imports the private modules; it re-exports the
parser and the opcodes the tree walk compares with.
"""

from __future__ import annotations

from typing import Any

try:  # Python 3.11+
    import re._constants as _constants
    import re._parser as _parser
except ImportError:  # pragma: no cover - Python before 3.11
    import sre_constants as _constants  # type: ignore[no-redef]
    import sre_parse as _parser  # type: ignore[no-redef]

LITERAL = _constants.LITERAL
IN = _constants.IN
BRANCH = _constants.BRANCH
SUBPATTERN = _constants.SUBPATTERN
MAX_REPEAT = _constants.MAX_REPEAT
MIN_REPEAT = _constants.MIN_REPEAT
MAXREPEAT = _constants.MAXREPEAT
POSSESSIVE_REPEAT: Any = getattr(_constants, "POSSESSIVE_REPEAT", None)  # Python 3.11+
ATOMIC_GROUP: Any = getattr(_constants, "ATOMIC_GROUP", None)  # Python 3.11+


def parse(pattern: str, flags: int = 0) -> Any:
    """The parse tree of ``pattern``: a sequence of ``(opcode, argument)`` pairs; raises ``re.error``."""
    return _parser.parse(pattern, flags)
