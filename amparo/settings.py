"""Amparo settings: one module, every deploy-time value from the environment.

With DEBUG off, a missing secret stops start-up with a message naming the
variable (never its value). See README "Configuration" for the full list.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from amparo import static_headers

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("AMPARO_VAR_DIR", BASE_DIR / "var"))


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false")


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number") from None


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


# Key custody (docs/production.md, "Keys"): the vault's key-encryption keys, the
# signing key and the Django secret can be files in a directory that is NOT in the
# database backups, e.g. /etc/amparo/keys (mode 0700, files 0600/0640). A database
# backup then holds wrapped keys and ciphertext only; opening it needs these files too.
AMPARO_KEYS_DIR = os.environ.get("AMPARO_KEYS_DIR", "")
# Setting name → the file its value was read from (vault's system check warns when
# one is readable by every user of the machine). Values are never kept here.
AMPARO_KEY_FILES: dict[str, str] = {}


def env_secret(name: str, *, dev_default: str | None = None, key_file: str = "") -> str:
    """A secret from `NAME`, the file named by `NAME_FILE`, or `AMPARO_KEYS_DIR/key_file`.

    Files are how Docker/Kubernetes secrets and systemd's LoadCredential hand secrets
    over, and keep them out of `/proc/<pid>/environ`, crash reports and the database
    backups. Setting both `NAME` and `NAME_FILE` is refused: which one wins would be a
    guess. A file that is missing, unreadable or empty stops start-up with a message
    naming the variable and the path (never the content).

    In development (DEBUG on) a missing secret falls back to `dev_default`, a
    value generated once and kept under var/ so restarts keep sessions and data.
    With DEBUG off, a missing secret is a configuration error.
    """
    value = os.environ.get(name)
    file_name = os.environ.get(f"{name}_FILE")
    source = f"{name}_FILE"
    if value and file_name:
        raise ImproperlyConfigured(f"set {name} or {name}_FILE, not both")
    if not value and not file_name and key_file and AMPARO_KEYS_DIR:
        file_name, source = str(Path(AMPARO_KEYS_DIR) / key_file), "AMPARO_KEYS_DIR"
    if not value and file_name:
        try:
            value = Path(file_name).read_text().strip()
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise ImproperlyConfigured(
                f"{name}: the key file {file_name} (from {source}) cannot be read: {reason}"
            ) from None
        if not value:
            raise ImproperlyConfigured(f"{name}: the key file {file_name} (from {source}) is empty")
        AMPARO_KEY_FILES[name] = file_name
    if value:
        return value
    if DEBUG and dev_default is not None:
        return dev_default
    raise ImproperlyConfigured(
        f"{name} (or {name}_FILE, or AMPARO_KEYS_DIR) must be set when DEBUG is off"
        if key_file
        else f"{name} (or {name}_FILE) must be set when DEBUG is off"
    )


def dev_secret(filename: str, make) -> str:
    """A development-only secret, generated once and kept under var/."""
    path = VAR_DIR / "dev-secrets" / filename
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(make())
        path.chmod(0o600)
    return path.read_text().strip()


def database_from_url(url: str) -> dict:
    """postgresql://user:pass@host:port/name?host=/socket/dir&sslmode=… → DATABASES entry.

    Every query parameter other than `host` and `port` is a libpq connection
    option (sslmode, sslrootcert, sslcert, sslkey, connect_timeout,
    application_name, …) and is passed on as is: dropping one silently (say,
    sslrootcert) would weaken the connection without anyone noticing.
    """
    parts = urlparse(url)
    if parts.scheme not in {"postgres", "postgresql"}:
        raise ImproperlyConfigured("DATABASE_URL must be a postgresql:// URL")
    options = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    host = options.pop("host", parts.hostname or "")
    port = options.pop("port", str(parts.port or ""))
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(parts.path.lstrip("/")) or "amparo",
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": host,
        "PORT": port,
        "CONN_MAX_AGE": env_int("DB_CONN_MAX_AGE", 60),
        "CONN_HEALTH_CHECKS": True,
        "OPTIONS": options,
    }


DEBUG = env_bool("DEBUG", False)

SECRET_KEY = env_secret(
    "SECRET_KEY",
    key_file="secret-key",
    dev_default=dev_secret("secret-key", lambda: secrets.token_urlsafe(50)) if DEBUG else None,
)
# Key-encryption keys for the vault (format: docs/vault-format.md).
AMPARO_KEYS = env_secret(
    "AMPARO_KEYS",
    key_file="amparo-keys",
    dev_default=dev_secret("amparo-keys", lambda: "1:" + secrets.token_urlsafe(32))
    if DEBUG
    else None,
)

# Ed25519 key (raw 32 bytes, base64) that signs police case files and the audit
# chain's anchors; its public half is in the admin and in every bundle. Not derived
# from AMPARO_KEYS, so rotating those leaves old signatures checkable.
AMPARO_SIGNING_KEY = env_secret(
    "AMPARO_SIGNING_KEY",
    key_file="signing-key",
    dev_default=dev_secret("signing-key", lambda: secrets.token_urlsafe(32)) if DEBUG else None,
)
# Seconds between signed anchors of the audit chain's head (vault.tasks.anchor_audit_chain).
AMPARO_ANCHOR_INTERVAL = env_int("AMPARO_ANCHOR_INTERVAL", 600)
# RFC 3161 timestamp authority for police case files (empty: no timestamp), and the PEM
# file of its certificate chain (root first or last), bundled so a verifier needs no network.
AMPARO_TSA_URL = env_str("AMPARO_TSA_URL")
AMPARO_TSA_CHAIN_FILE = env_str("AMPARO_TSA_CHAIN_FILE")
AMPARO_TSA_TIMEOUT = env_int("AMPARO_TSA_TIMEOUT", 20)
if AMPARO_TSA_URL and not AMPARO_TSA_CHAIN_FILE:
    raise ImproperlyConfigured("AMPARO_TSA_CHAIN_FILE must be set when AMPARO_TSA_URL is")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost" if DEBUG else "")
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must be set when DEBUG is off")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
# The site's public address: every absolute link (mail, QR codes, password reset)
# starts with it, never with the host a request happened to name. The default is
# the address `make run` serves (amparo/devserver.py reads the same AMPARO_ADDR);
# in production it must be https (support/checks.py, under `check --deploy`).
AMPARO_ADDR = env_str("AMPARO_ADDR", "127.0.0.1:8000")
AMPARO_BASE_URL = env_str("AMPARO_BASE_URL", f"http://{AMPARO_ADDR}").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.usersessions",
    "csp",
    "vault",
    "support",
    "takedowns",
    "police",
    "reporting",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "amparo.middleware.SecurityHeadersMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "support.middleware.UserSessionsMiddleware",
    "support.middleware.StaffSessionMiddleware",
]

ROOT_URLCONF = "amparo.urls"
WSGI_APPLICATION = "amparo.wsgi.application"
ASGI_APPLICATION = "amparo.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "amparo.context_processors.site",
            ],
        },
    },
]

# In development, management commands find the servers `make run` keeps under var/.
_LOCAL_DB = f"postgresql://postgres@/amparo?host={VAR_DIR / 'services' / 'postgres'}"
DATABASE_URL = env_str("DATABASE_URL", _LOCAL_DB if DEBUG else "")
REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6391" if DEBUG else "")
if not DATABASE_URL or not REDIS_URL:
    raise ImproperlyConfigured("DATABASE_URL and REDIS_URL must be set when DEBUG is off")
DATABASES = {"default": database_from_url(DATABASE_URL)}

# Redis db 0: Celery broker; db 1: cache (rate limits, TOTP replay protection,
# worker heartbeat). Shared by every process, unlike per-process memory.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": env_str("CACHE_URL", REDIS_URL.rstrip("/") + "/1"),
        "KEY_PREFIX": "amparo",
        "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
    }
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
     "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]  # fmt: skip
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]

AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]

# --- Languages -------------------------------------------------------------
LANGUAGE_CODE = "es"
LANGUAGES = [("es", _("Spanish")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
USE_TZ = True
TIME_ZONE = env_str("TIME_ZONE", "Europe/Madrid")
LANGUAGE_COOKIE_SECURE = not DEBUG
LANGUAGE_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_SAMESITE = "Lax"

# --- Static files and evidence ------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage",
                "OPTIONS": {"location": VAR_DIR / "media"}},
    # Hashed, compressed names need `collectstatic` first: on in production.
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
                    if env_bool("STATIC_MANIFEST", not DEBUG)
                    else "django.contrib.staticfiles.storage.StaticFilesStorage"},
}  # fmt: skip
# Evidence lives in its own private directory (or object store), never under a
# URL the web server serves: no MEDIA_URL route exists for it.
EVIDENCE_ROOT = Path(env_str("EVIDENCE_ROOT", str(VAR_DIR / "evidence")))

# --- Police exports (README "Police liaisons") ------------------------------------------
# Where the worker writes case files, straight into AES-256 ZIPs (no plaintext is ever
# written), and keeps them until their one download. Web and worker must share it.
POLICE_EXPORT_ROOT = Path(env_str("POLICE_EXPORT_ROOT", str(VAR_DIR / "exports")))
POLICE_EXPORT_LIFETIME_HOURS = env_int("POLICE_EXPORT_LIFETIME_HOURS", 24)

# --- Evidence vault (docs/vault.md) ---------------------------------------------------
# Where ciphertext is kept: "filesystem" (EVIDENCE_ROOT) or "s3" (any S3-compatible
# store; credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or the machine's role).
EVIDENCE_STORAGE = env_str("EVIDENCE_STORAGE", "filesystem")
EVIDENCE_S3_BUCKET = env_str("EVIDENCE_S3_BUCKET")
EVIDENCE_S3_ENDPOINT_URL = env_str("EVIDENCE_S3_ENDPOINT_URL")
EVIDENCE_S3_REGION = env_str("EVIDENCE_S3_REGION")
# "path" suits most self-hosted stores (MinIO, Garage, Ceph); empty lets boto3 choose.
EVIDENCE_S3_ADDRESSING_STYLE = env_str("EVIDENCE_S3_ADDRESSING_STYLE")
EVIDENCE_S3_PART_SIZE = env_int("EVIDENCE_S3_PART_SIZE", 8 * 1024 * 1024)  # S3 minimum: 5 MiB
if EVIDENCE_STORAGE not in {"filesystem", "s3"}:
    raise ImproperlyConfigured("EVIDENCE_STORAGE must be filesystem or s3")
if EVIDENCE_STORAGE == "s3" and not EVIDENCE_S3_BUCKET:
    raise ImproperlyConfigured("EVIDENCE_S3_BUCKET must be set when EVIDENCE_STORAGE is s3")
if EVIDENCE_S3_PART_SIZE < 5 * 1024 * 1024:
    raise ImproperlyConfigured("EVIDENCE_S3_PART_SIZE must be at least 5 MiB (5242880)")
# Upload limits for evidence views (vault.uploads), in bytes: one file, one request.
EVIDENCE_MAX_FILE_BYTES = env_int("EVIDENCE_MAX_FILE_BYTES", 512 * 1024 * 1024)
EVIDENCE_MAX_REQUEST_BYTES = env_int("EVIDENCE_MAX_REQUEST_BYTES", 1024 * 1024 * 1024)
# Django's default handlers write any upload over FILE_UPLOAD_MAX_MEMORY_SIZE (2.5 MiB)
# to a plaintext temporary file. Evidence views replace the handlers with the
# encrypting one (@vault.uploads.encrypting_uploads); everywhere else small files stay
# in memory and larger ones are dropped unread, so no upload is ever spooled to disk.
FILE_UPLOAD_HANDLERS = ["django.core.files.uploadhandler.MemoryFileUploadHandler"]
# --- end of evidence vault --------------------------------------------------------------

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Mail -------------------------------------------------------------------
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Amparo <no-reply@localhost>")
if env_str("EMAIL_HOST"):
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = env_str("EMAIL_HOST")
    EMAIL_PORT = env_int("EMAIL_PORT", 587)
    EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
    EMAIL_HOST_PASSWORD = env_secret("EMAIL_HOST_PASSWORD", dev_default="")
    EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
else:
    # Development and tests: each message is a file under var/mail, listed at /dev/mail/.
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = VAR_DIR / "mail"

# --- Accounts: allauth with mandatory MFA for staff ------------------------------
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "none"  # staff arrive through an emailed invitation
ACCOUNT_ADAPTER = "support.adapters.AccountAdapter"
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_SESSION_REMEMBER = False
ACCOUNT_LOGIN_ON_PASSWORD_RESET = False
ACCOUNT_PREVENT_ENUMERATION = True
ACCOUNT_REAUTHENTICATION_TIMEOUT = env_int("REAUTHENTICATION_TIMEOUT", 300)
ACCOUNT_RATE_LIMITS = {
    "login": "30/m/ip",
    "login_failed": "10/m/ip,5/5m/key",
    "reset_password": "5/m/ip,3/m/key",
    "reauthenticate": "10/m/user",
}
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "http" if DEBUG else "https"
MFA_ADAPTER = "support.adapters.MFAAdapter"
MFA_SUPPORTED_TYPES = ["totp", "webauthn", "recovery_codes"]
MFA_PASSKEY_LOGIN_ENABLED = True
MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN = DEBUG
MFA_TOTP_ISSUER = "Amparo"
# Accept the previous and next 30-second code too: phones' clocks drift and a
# code typed at the turn of a period must still work. Replay protection
# (Redis) keeps each accepted code single-use.
MFA_TOTP_TOLERANCE = 1
USERSESSIONS_TRACK_ACTIVITY = True
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "support:home"
ACCOUNT_LOGOUT_REDIRECT_URL = "reporting:start"

# What a family's status page promises: the group aims to answer within this many
# hours of a report (urgent cases — sextortion — sooner).
FAMILY_REPLY_HOURS = env_int("FAMILY_REPLY_HOURS", 72)
FAMILY_URGENT_REPLY_HOURS = env_int("FAMILY_URGENT_REPLY_HOURS", 24)

# Staff sessions end after this much inactivity (seconds); see StaffSessionMiddleware.
STAFF_IDLE_TIMEOUT = env_int("STAFF_IDLE_TIMEOUT", 30 * 60)
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 8 * 3600)
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_SECURE = not DEBUG
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_NAME = "amparo_session"
CSRF_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_HTTPONLY = True

# --- Transport security and headers ------------------------------------------------
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 63072000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
# "same-origin": no other site ever learns which page of ours a visitor came
# from. Not "no-referrer": with it Chromium sends `Origin: null` on our own form
# posts, and Django's CSRF origin check (rightly) refuses every one of them.
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Behind a TLS-terminating proxy: trust its X-Forwarded-Proto, and (for rate
# limits per address) the number of proxies in front of us. Never enable these
# without a proxy that overwrites the headers, or clients can spoof them.
if env_bool("TRUST_PROXY_HEADERS", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    USE_X_FORWARDED_HOST = True
ALLAUTH_TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        # data: only for the TOTP QR code that allauth renders as an SVG data URI.
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "worker-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
# The fingerprint workers' scripts carry a policy of their own, the only one with
# 'wasm-unsafe-eval' (amparo/static_headers.py says why and what it allows).
WHITENOISE_ADD_HEADERS_FUNCTION = static_headers.add_headers
PERMISSIONS_POLICY = (
    "camera=(), microphone=(), geolocation=(), payment=(), usb=(), "
    "interest-cohort=(), publickey-credentials-get=(self), publickey-credentials-create=(self)"
)

# Reports without an incident link go to this organisation (UUID) when several exist.
AMPARO_DEFAULT_ORGANISATION = env_str("AMPARO_DEFAULT_ORGANISATION")

# Where quick exit sends a family: a neutral page, configurable per deployment.
QUICK_EXIT_URL = env_str("QUICK_EXIT_URL", "https://www.aemet.es/es/eltiempo/prediccion")

# --- Celery --------------------------------------------------------------------------
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL.rstrip("/") + "/0")
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_BACKEND = None  # state lives in our tables, not a result store
CELERY_TASK_IGNORE_RESULT = True
# A task is acknowledged only once it has finished, and a task whose worker
# child was killed goes back to the queue; tasks are idempotent, so a redelivery
# does no harm.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Redis redelivers an unacknowledged task after this many seconds. It must be
# longer than our longest task (exports: well under 30 minutes) or a slow task
# runs twice; the outbox sweeper covers messages the broker lost outright.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_BROKER_CONNECTION_TIMEOUT = 2
# Publishing gives up quickly: the outbox row is already committed and the
# sweeper re-sends it, so a web request never hangs on a dead broker.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
OUTBOX_REDISPATCH_AFTER = env_int("OUTBOX_REDISPATCH_AFTER", 300)
# How long a worker holds an outbox row while running its task (longer than the slowest task).
OUTBOX_LEASE_SECONDS = env_int("OUTBOX_LEASE_SECONDS", 900)

# --- Logging: ids and event codes only, never content -----------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        # Request lines can carry access codes or case references in URLs.
        "django.request": {"level": "ERROR"},
        "django.server": {"level": "WARNING"},
    },
}

ADMINS = [("Admin", a) for a in env_list("ADMIN_EMAILS")]
