"""What the data doctor finds: problems, one line each naming the file, and per-corpus summaries.

Every problem is an *error* (a stage would fail on it or compute something wrong) or a
*warning* (it can be used, but looks wrong). The readers decide what is wrong: their
DataErrors become errors, the warnings they log become warnings (`Findings.attempt`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from braintune.errors import DataError

ERROR, WARNING = "error", "warning"


@dataclass(frozen=True)
class Problem:
    """One problem: `message` is one line naming the file and what is wrong with it."""

    level: str  # ERROR or WARNING
    file: str  # the file checked
    message: str
    participant: str | None = None

    def __str__(self) -> str:
        return f"{self.level}: {self.message}"


@dataclass
class Findings:
    """What a check found: its problems, one row per participant, a summary per corpus."""

    problems: list[Problem] = field(default_factory=list)
    participants: list[dict] = field(default_factory=list)
    corpora: dict[str, dict] = field(default_factory=dict)
    seconds: float = 0.0
    _seen: set[Problem] = field(default_factory=set, repr=False)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.level == ERROR]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.level == WARNING]

    def add(self, level: str, file, problem: str, participant: str | None = None) -> None:
        """Record `problem` about `file` (the line reads "<file>: <problem>")."""
        self._record(Problem(level, str(file), f"{file}: {problem}", participant))

    def attempt(self, file, read: Callable, *args, participant: str | None = None, level: str = ERROR):
        """read(*args); None once its DataError (or OSError) is recorded at `level`.

        Warnings the readers log meanwhile are recorded as warnings about `file`.
        """
        collect = _Collect()
        logger = logging.getLogger("braintune.data")
        logger.addHandler(collect)
        propagate, logger.propagate = logger.propagate, False
        try:
            return read(*args)
        except DataError as exc:
            self._record(Problem(level, str(file), str(exc), participant))
        except (OSError, UnicodeDecodeError) as exc:
            self.add(level, file, f"cannot read ({exc})", participant)
        finally:
            logger.removeHandler(collect)
            logger.propagate = propagate
            for record in collect.records:
                self._record(Problem(WARNING, str(file), record.getMessage(), participant))
        return None

    def _record(self, problem: Problem) -> None:
        if problem not in self._seen:  # two checks of one file may meet the same fault
            self._seen.add(problem)
            self.problems.append(problem)

    def raise_errors(self) -> None:
        """DataError naming the first error and counting the others, if there are any."""
        errors = self.errors
        if errors:
            more = f" (and {len(errors) - 1} more error{'s' * (len(errors) > 2)}; `braintune check` lists them)"
            raise DataError(errors[0].message + (more if len(errors) > 1 else ""))

    def to_dict(self) -> dict:
        return {"ok": not self.errors, "errors": len(self.errors), "warnings": len(self.warnings),
                "seconds": round(self.seconds, 2), "participants": self.participants, "corpora": self.corpora,
                "problems": [asdict(p) for p in self.problems]}


class _Collect(logging.Handler):
    """Keeps the warnings logged while a reader runs."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


# ---- output ------------------------------------------------------------------------------

def format_findings(found: Findings) -> str:
    """The report `braintune check` prints: each corpus's summary, every problem, a verdict."""
    from braintune.data.check import summary_lines

    lines = summary_lines(found)
    problems = found.errors + found.warnings
    if problems:
        lines += [""] + [str(p) for p in problems]
    verdict = "the data is usable" if not found.errors else "fix the errors above"
    lines += ["", f"{len(found.errors)} error(s), {len(found.warnings)} warning(s) in {found.seconds:.1f} s: {verdict}"]
    return "\n".join(lines)


def findings_json(found: Findings) -> str:
    """The findings as JSON text (`braintune check --json FILE`)."""
    return json.dumps(found.to_dict(), indent=1)
