"""Demo organisation and people for local use (`make run`). Never in production."""

import base64
import hashlib

DEMO_ORG = "Asociación de madres — Almendralejo (demo)"
DEMO_PASSWORD = "amparo-demo-2026"  # noqa: S105 - documented, DEBUG-only demo accounts
DEMO_PEOPLE = [
    ("coordinadora@demo.amparo.test", "coordinator"),
    ("trabajadora@demo.amparo.test", "caseworker"),
    ("enlace.policial@demo.amparo.test", "police_liaison"),
    ("admin@demo.amparo.test", "org_admin"),
]


def demo_totp_secret(email: str) -> str:
    """A fixed, documented TOTP secret per demo account (base32, 160 bits)."""
    digest = hashlib.sha256(b"amparo-demo-totp:" + email.encode()).digest()[:20]
    return base64.b32encode(digest).decode()
