"""System checks for key custody: key files that others on the machine can read.

Threat: the key files (AMPARO_KEYS_FILE, AMPARO_SIGNING_KEY_FILE, AMPARO_KEYS_DIR …)
are the one thing that keeps a stolen database backup or evidence-store copy
unreadable; a file any local user (another service, a compromised daemon) can read
gives that away without touching Amparo. Choice: warn at every start-up (and in
`check --deploy`, which CI fails on warnings) when a key file or the key directory is
readable or writable by "other", naming the file and the fix, never the content.
"""

from __future__ import annotations

import os
import stat

from django.conf import settings
from django.core.checks import Warning, register


@register("security")
def key_file_permissions(app_configs=None, **kwargs):
    problems = []
    paths = dict(getattr(settings, "AMPARO_KEY_FILES", {}))
    if getattr(settings, "AMPARO_KEYS_DIR", ""):
        paths["AMPARO_KEYS_DIR"] = settings.AMPARO_KEYS_DIR
    for name, path in sorted(paths.items()):
        try:
            mode = os.stat(path).st_mode
        except OSError:
            continue  # settings already refused a key file they could not read
        if mode & (stat.S_IROTH | stat.S_IWOTH):
            fix = "chmod 700" if stat.S_ISDIR(mode) else "chmod 600 (or 640 for a group)"
            problems.append(
                Warning(
                    f"{path} ({name}) can be read or changed by every user of this machine.",
                    hint=f"{fix} {path}, owned by the user Amparo runs as; see "
                    "docs/production.md, Keys.",
                    id="vault.W001",
                )
            )
    return problems
