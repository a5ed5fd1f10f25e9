"""gunicorn's access log without personal data (gunicorn.conf.py: logger_class).

Threat: access logs are kept, copied and shipped to log services with far less care
than the database, and a request line names who asked for what: the client's
address, the query string, the referrer, and in Amparo the incident code a school
hands to families (/i/<code>/), which links a visitor to an incident. Choice: the
format in gunicorn.conf.py uses none of those atoms, and this logger also blanks
them and replaces every path segment after /i/ with "…", so that a format edited
later cannot bring them back by accident.
"""

from __future__ import annotations

import re

from gunicorn.glogging import Logger

# Path prefixes whose next segment is a code or token rather than a page name.
_SECRET_SEGMENT = re.compile(r"^(/i/)[^/]+")
_DROPPED = ("h", "u", "r", "q", "f", "a")


def redact_path(path: str | None) -> str:
    return _SECRET_SEGMENT.sub(r"\1…", path or "")


class PrivateAccessLogger(Logger):
    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        for name in _DROPPED:
            atoms[name] = "-"
        atoms["U"] = redact_path(atoms.get("U"))
        # Headers and environ are reachable as %({name}i)s / %({name}e)s: drop them all.
        for key in [k for k in atoms if k.startswith("{")]:
            del atoms[key]
        return atoms
