"""`make proof`: run every proof suite at full size and report the security figures.

Starts throwaway PostgreSQL and Redis from pip packages (amparo.localservices), as
`make bench` and the tests do, with production-like settings (DEBUG off) and
throwaway keys; runs each suite; prints a Markdown table; writes var/proof.json (a
list of {suite, figure, value, expected, held}); rewrites the block between
`<!-- proof:start -->` and `<!-- proof:end -->` in README.md; exits 1 if any figure
does not hold. `python -m proof idor canaries` runs only the suites named.
"""

from __future__ import annotations

import base64
import importlib
import json
import os
import secrets
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SUITES = ("idor", "canaries", "fuzz", "drill", "load", "faults", "backlog")
START, END = "<!-- proof:start -->", "<!-- proof:end -->"
FIELDS = ("suite", "figure", "value", "expected", "held")


def environment(var: Path) -> None:
    """Production-like settings with throwaway secrets, as the test run uses."""
    key = lambda: base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()  # noqa: E731
    os.environ.update(
        AMPARO_VAR_DIR=str(var),
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        AMPARO_KEYS=f"1:{key()},2:{key()}",
        AMPARO_SIGNING_KEY=key(),
        ALLOWED_HOSTS="localhost,testserver,127.0.0.1",
        SECURE_SSL_REDIRECT="false",
        STATIC_MANIFEST="false",
        EVIDENCE_STORAGE="filesystem",
        EVIDENCE_ROOT=str(var / "evidence"),
        DJANGO_SETTINGS_MODULE="amparo.settings",
    )


def _cell(value) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def markdown(rows: list[dict]) -> str:
    lines = ["| suite | figure | value | expected | holds |", "|---|---|---:|---|---|"]
    for r in rows:
        held = "yes" if r["held"] else "**no**"
        lines.append(
            f"| {r['suite']} | {r['figure']} | {_cell(r['value'])} | {r['expected']} | {held} |"
        )
    return "\n".join(lines)


def update_readme(table: str, readme: Path = ROOT / "README.md") -> bool:
    """Replace the marked block's table; False when the markers are missing."""
    text = readme.read_text()
    if START not in text or END not in text:
        return False
    head, rest = text.split(START, 1)
    _old, tail = rest.split(END, 1)
    readme.write_text(f"{head}{START}\n{table}\n{END}{tail}")
    return True


def run_suites(names, *, short: bool = False) -> list[dict]:
    rows = []
    for name in names:
        module = importlib.import_module(f"proof.{name}")
        started = time.perf_counter()
        try:
            found = module.run(short=short)
        except Exception:
            traceback.print_exc()
            found = [{"suite": name, "figure": "suite ran to the end", "value": "crashed",
                      "expected": "ran", "held": False}]  # fmt: skip
        for row in found:
            if not row["held"] and row.get("details"):
                print(f"{row['suite']}: {row['figure']}:", file=sys.stderr)
                for line in row["details"][:300]:
                    print(f"  {line}", file=sys.stderr)
        print(f"{name}: {time.perf_counter() - started:.0f} s", file=sys.stderr)
        rows += found
    return rows


def main(argv: list[str]) -> int:
    names = [a for a in argv if a in SUITES] or list(SUITES)
    unknown = [a for a in argv if a not in SUITES]
    if unknown:
        print(f"unknown suites: {unknown}; choose from {SUITES}", file=sys.stderr)
        return 2
    (ROOT / "var").mkdir(exist_ok=True)
    var = Path(tempfile.mkdtemp(prefix="proof-", dir=ROOT / "var"))
    environment(var)
    started = time.perf_counter()
    from amparo.localservices import LocalServices, apply_env

    services = LocalServices(var / "services", ephemeral=True)
    apply_env(services.start())
    try:
        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", verbosity=0)
        from proof import stack

        stack.SERVICES = services
        rows = run_suites(names)
    finally:
        services.stop()
        shutil.rmtree(var, ignore_errors=True)
    clean = [{key: row[key] for key in FIELDS} for row in rows]
    out = ROOT / "var" / "proof.json"
    out.write_text(json.dumps(clean, indent=2, ensure_ascii=False) + "\n")
    table = markdown(clean)
    print(table)
    if names == list(SUITES) and not update_readme(table):
        print("README.md has no proof markers; not updated", file=sys.stderr)
    held = all(r["held"] for r in clean)
    print(
        f"\n{len(clean)} figures in {time.perf_counter() - started:.0f} s, "
        f"{'all hold' if held else 'SOME DO NOT HOLD'}; written to {out}"
    )
    return 0 if held else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
