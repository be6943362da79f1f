"""Mutation testing of braintune's numeric core: one mutmut run per module (`make mutation`).

The modules, the tests each one runs and the shared settings are in pyproject.toml
([tool.braintune.mutation]). Each module runs in its own folder .mutation/<name>/ (git-ignored):
links to src/, tests/ and pyproject.toml, and a setup.cfg with that module's mutmut settings
(mutmut reads setup.cfg because pyproject.toml has no [tool.mutmut]). So every run sees only
its own module's tests and keeps its own results, and an interrupted run resumes where it
stopped. Review a survivor there: `cd .mutation/<name> && mutmut show <mutant>`.

    python tools/mutation.py [NAME ...]             run the modules (default: all), print the scores
    python tools/mutation.py --scores [NAME ...]    print the scores of the last runs
    python tools/mutation.py --survivors NAME ...   test again only the mutants that survived
    python tools/mutation.py --fresh NAME ...       forget a module's earlier results, then run it

Mutants run one at a time at one thread (`--workers N` for more; the tests' torch and BLAS
stay at one thread).
"""

from __future__ import annotations

import argparse
import configparser
import filecmp
import fnmatch
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / ".mutation"
MUTMUT = Path(sys.executable).with_name("mutmut")
LINKED = ("src", "tests", "pyproject.toml")
EQUIVALENTS = ROOT / "docs" / "mutation.md"  # the reviewed survivors: equivalent or not, with the reasons


def settings() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["braintune"]["mutation"]


def prepare(name: str, module: dict, shared: dict) -> Path:
    """The module's folder: links to the sources, tests and pytest settings, its mutmut setup.cfg."""
    folder = WORK / name
    folder.mkdir(parents=True, exist_ok=True)
    for entry in LINKED:
        link = folder / entry
        if not link.is_symlink():
            link.symlink_to(ROOT / entry)
    cfg = configparser.ConfigParser()
    cfg["mutmut"] = {
        "only_mutate": module["mutate"],
        "pytest_add_cli_args_test_selection": "\n".join(module["tests"]),
        "timeout_constant": str(shared["timeout_constant"]),
    }
    with open(folder / "setup.cfg", "w") as f:
        cfg.write(f)
    refresh_copies(folder, module["mutate"])
    return folder


def refresh_copies(folder: Path, mutated: str) -> None:
    """Delete mutmut's copies of the files it does not mutate that differ from (or no longer
    are in) src/: mutmut copies src/ into mutants/ only once, and copies what is missing, so
    the tests run against the current code. The mutated file and its records are mutmut's."""
    copies = folder / "mutants"
    for copy in (copies / "src").rglob("*") if (copies / "src").is_dir() else ():
        relative = copy.relative_to(copies).as_posix()
        if not copy.is_file() or relative == mutated or relative.startswith(f"{mutated}."):
            continue
        source = ROOT / relative
        if not source.is_file() or not filecmp.cmp(source, copy, shallow=False):
            copy.unlink()


def run(name: str, module: dict, shared: dict, workers: int, fresh: bool, survivors: bool) -> int:
    """One mutmut run of the module (its `mutants`, or only its survivors); returns mutmut's exit code."""
    names = module.get("mutants", [])
    if survivors:
        names = [key for key, status in results(name, module).items() if status == "survived"]
        if not names:
            return 0
    folder = prepare(name, module, shared)
    if fresh:
        shutil.rmtree(folder / "mutants", ignore_errors=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false"}
    print(f"{name}: mutating {module['mutate']} (log: {folder / 'mutmut.log'})", flush=True)
    start = time.monotonic()
    with open(folder / "mutmut.log", "w") as log:
        code = subprocess.call([str(MUTMUT), "run", "--max-children", str(workers), *names],
                               cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT)
    wall = folder / "wall_seconds"  # the time of the runs since the results were last forgotten
    earlier = 0 if fresh or not wall.is_file() else int(wall.read_text())
    wall.write_text(f"{earlier + time.monotonic() - start:.0f}\n")
    if code:
        print(f"{name}: mutmut exited with {code}; see {folder / 'mutmut.log'}", flush=True)
    return code


def results(name: str, module: dict) -> dict[str, str]:
    """mutant -> mutmut status, for the module's mutants (those its `mutants` globs name)."""
    folder = WORK / name
    if not (folder / "mutants").is_dir():
        return {}
    out = subprocess.run([str(MUTMUT), "results", "--all", "true"], cwd=folder, capture_output=True, text=True,
                         check=True).stdout
    pairs = (line.strip().rsplit(": ", 1) for line in out.splitlines() if ": " in line)
    globs = module.get("mutants", ["*"])
    return {key: status for key, status in pairs if any(fnmatch.fnmatch(key, g) for g in globs)}


def reviewed() -> tuple[set[str], set[str]]:
    """Mutants docs/mutation.md lists (table rows starting with | `<mutant>` |), and those of them
    it gives as equivalent (the row's last cell starts with "equivalent: ")."""
    text = EQUIVALENTS.read_text() if EQUIVALENTS.is_file() else ""
    rows = re.findall(r"^\| `(\S+__mutmut_\d+)` \|(.*)$", text, re.M)
    return {key for key, _ in rows}, {key for key, rest in rows if re.search(r"\| equivalent: .*\|\s*$", rest)}


def scores(names: list[str], modules: dict) -> None:
    """Per module: mutants, killed (timeouts included), reviewed equivalent, survived (the other
    survivors), other (not run yet, no tests) and killed / (mutants - equivalent); then the
    survivors docs/mutation.md does not list and the listed ones that were killed (a stale list)."""
    listed, equivalents = reviewed()
    print(f"{'module':<12} {'mutants':>7} {'killed':>6} {'equivalent':>10} {'survived':>8} {'other':>5} {'score':>6} "
          f"{'minutes':>7}")
    for name in names:
        status = results(name, modules[name])
        survived = {key for key, s in status.items() if s == "survived"}
        killed = sum(s in ("killed", "timeout") for s in status.values())
        equivalent = len(survived & equivalents)
        other = len(status) - killed - len(survived)
        score = f"{100 * killed / (len(status) - equivalent):.1f}%" if len(status) > equivalent else "-"
        wall = WORK / name / "wall_seconds"
        minutes = f"{int(wall.read_text()) / 60:.0f}" if wall.is_file() else "-"
        print(f"{name:<12} {len(status):>7} {killed:>6} {equivalent:>10} {len(survived) - equivalent:>8} {other:>5} "
              f"{score:>6} {minutes:>7}")
        for key in sorted(survived - listed, key=_numbered):
            print(f"    survived, not reviewed: {key}")
        for key in sorted(listed & {k for k, s in status.items() if s in ("killed", "timeout")}, key=_numbered):
            print(f"    listed in {EQUIVALENTS.name} but killed: {key}")


def _numbered(mutant: str) -> tuple[str, int]:
    """Sort key of a mutant name: its function, then its number (so _2 precedes _10)."""
    function, _, number = mutant.rpartition("__mutmut_")
    return function, int(number) if number.isdigit() else -1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="modules of [tool.braintune.mutation.modules] (default: all)")
    parser.add_argument("--scores", action="store_true", help="only print the scores of the last runs")
    parser.add_argument("--survivors", action="store_true",
                        help="test again only the mutants that survived (a plain run already tests again the "
                             "functions that new tests reach)")
    parser.add_argument("--fresh", action="store_true", help="forget the modules' earlier results first")
    parser.add_argument("--workers", type=int, default=1, help="mutants tested at once")
    args = parser.parse_args(argv)
    shared = settings()
    modules = shared["modules"]
    unknown = sorted(set(args.names) - set(modules))
    if unknown:
        parser.error(f"unknown module(s) {', '.join(unknown)}; choose from {', '.join(modules)}")
    names = args.names or list(modules)
    code = 0
    if not args.scores:
        for name in names:
            code |= run(name, modules[name], shared, args.workers, args.fresh, args.survivors)
    scores(names, modules)
    return code


if __name__ == "__main__":
    sys.exit(main())
