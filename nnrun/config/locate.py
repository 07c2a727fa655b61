"""Where a config problem is: the `--set` override that set its key, else the file's line, else the file.

Problems are sorted the way a user reads them: file lines first, then overrides in the order given.
"""

from __future__ import annotations

from nnrun.errors import ConfigError
from nnrun.registry import Problem, path_text

# key path (str keys, int list indices) -> (line of the key, line of the value, the value is a collection)
LineMap = dict[tuple, tuple[int, int, bool]]
MAX_LISTED = 30  # problems the message lists; ConfigError.problems keeps them all
MAX_CHARS = 1000  # of one problem: messages quote the value, and a hostile one may be 256 KiB long


def raise_problems(problems: list[Problem], source: str, lines: LineMap | None, applied: list[tuple[str, tuple]]):
    """Raise one ConfigError for every problem; `applied` holds (override text, key path) in the order given."""
    rendered = []
    for order, problem in enumerate(problems):
        where, rank = _where(problem, source, lines, applied)
        what = f"{path_text(problem.loc)}: {problem.message}"
        rendered.append((rank, order, where, what if len(what) <= MAX_CHARS else what[: MAX_CHARS - 1] + "…"))
    rendered.sort(key=lambda r: (r[0], r[1]))
    if len(rendered) == 1:
        _, _, where, what = rendered[0]
        error = ConfigError(what, where=where)
    else:
        listed = [f"{where}: {what}" for _, _, where, what in rendered[:MAX_LISTED]]
        if len(rendered) > MAX_LISTED:  # a page of errors is read; thousands (a wrong file) are not
            listed.append(f"... and {len(rendered) - MAX_LISTED:,} more problems")
        error = ConfigError("\n".join(listed))
    error.problems = [(where, what) for _, _, where, what in rendered]
    raise error


def _where(
    problem: Problem, source: str, lines: LineMap | None, applied: list[tuple[str, tuple]]
) -> tuple[str, tuple[int, int]]:
    """Where to report a problem (the override that set its key, else file:line) and a rank to sort by."""
    loc = problem.loc
    for index in range(len(applied) - 1, -1, -1):
        text, path = applied[index]
        # changing a `type` reshapes the whole spec: its sibling keys' errors come from the override too
        scope = path[:-1] if path and path[-1] in ("type", "dataset") else path
        if loc[: len(scope)] == scope or (loc and scope[: len(loc)] == loc):
            return f"--set {text}", (1, index)
    if lines:
        line = _line(loc, problem.at_key, lines)
        if line is not None:
            return f"{source}:{line}", (0, line)
    return source, (2, 0)


def _line(loc: tuple, at_key: bool, lines: LineMap) -> int | None:
    if loc in lines:
        key_line, value_line, collection = lines[loc]
        # a whole section is wrong (train: epochs and max_steps both given): point at its key, `train:`
        return key_line if at_key or collection else value_line
    for n in range(len(loc) - 1, 0, -1):
        if loc[:n] in lines:
            return lines[loc[:n]][0]  # a missing key: point at the mapping that should hold it
    return None
