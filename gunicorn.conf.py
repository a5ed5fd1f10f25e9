"""gunicorn settings for Amparo: the same server in `make run` and in production.

`gunicorn -c gunicorn.conf.py` (the Procfile and docs/systemd/amparo-web.service do
this). Every value can be overridden from the environment (named beside it) or on the
command line; each says why it is what it is. See docs/production.md.

The load this is sized for: families upload evidence (up to 512 MiB) from phones on
slow links, so one request can stream its body for many minutes. The upload handler
encrypts each chunk as it arrives (vault/uploads.py), so a slow upload costs one
thread and a few hundred KiB, not a process, a temporary file or the whole body in
memory. What must not happen is that a handful of slow uploads fill every worker and
other families' pages wait behind them — the failure of sync workers.
"""

from __future__ import annotations

import multiprocessing
import os


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    return int(value) if value.strip() else default


def _env_bool(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


# The Django application. Static files are served by WhiteNoise inside it
# (settings.MIDDLEWARE), so gunicorn needs no static route of its own.
wsgi_app = "amparo.wsgi:application"

# Loopback by default: gunicorn speaks plain HTTP and belongs behind a TLS proxy
# (docs/production.md). `make run` passes AMPARO_ADDR; production may bind a Unix
# socket (`unix:/run/amparo/web.sock`) the proxy reaches.
bind = [os.environ.get("AMPARO_ADDR", "127.0.0.1:8000")]

# Threaded workers: a slow streaming upload occupies one thread while it waits on
# the network, and the worker's other threads keep answering. The GIL is released
# on socket reads and inside hashlib/AES-GCM, so threads overlap well here.
worker_class = "gthread"

# Processes: 2 x cores, capped at 8. Processes are what uses several cores (and what
# survives a crash in one); beyond ~8 they mostly add memory (~120 MiB each) and
# PostgreSQL connections. AMPARO_WEB_WORKERS overrides.
workers = _env_int("AMPARO_WEB_WORKERS", min(2 * multiprocessing.cpu_count(), 8))

# Threads per process: 12, so 2 cores serve 4 x 12 = 48 requests at once — room for
# dozens of slow phone uploads while pages stay quick. Each thread may hold one
# PostgreSQL connection (CONN_MAX_AGE), so workers x threads must stay below the
# server's max_connections (100 by default) together with the Celery workers.
threads = _env_int("AMPARO_WEB_THREADS", 12)

# The worker *heartbeat*, not a per-request limit: with gthread the master kills a
# worker whose main loop has not touched its heartbeat file for this long (a
# deadlock, a runaway C extension), and the loop keeps beating while its threads
# serve long uploads, so a 10-minute upload is not cut by it. 60 s rather than 30 so
# that a burst of CPU-heavy requests (Argon2 sign-ins hold the GIL for ~50 ms each)
# on a busy 2-core machine never starves the loop into a false kill. Slow-client
# limits belong to the proxy (nginx client_body_timeout, Caddy read_timeout).
timeout = _env_int("AMPARO_WEB_TIMEOUT", 60)

# On restart (deploy, SIGTERM) workers get this long to finish what they are doing.
# Not long enough for a large slow upload (512 MiB at 1 MB/s is ~9 minutes) and it
# should not be: an interrupted upload leaves nothing behind (the encrypting handler
# deletes its ciphertext, no row exists) and the family is told to send it again.
# 30 s lets every page and every fast upload finish.
graceful_timeout = _env_int("AMPARO_WEB_GRACEFUL_TIMEOUT", 30)

# Idle keep-alive connections are closed after 5 s: behind a proxy that reuses
# connections this saves handshakes; longer would only hold threads for nobody.
keepalive = 5

# Request-head limits, kept at or below gunicorn's defaults: Amparo's URLs are
# short, every query is a form field, and a huge head is an attack (memory, hash
# flooding), not a family. Body size is limited by the proxy (client_max_body_size)
# and by Django (EVIDENCE_MAX_REQUEST_BYTES, DATA_UPLOAD_MAX_MEMORY_SIZE).
limit_request_line = 4094
limit_request_fields = 60
limit_request_field_size = 8190

# Which proxy addresses may set X-Forwarded-Proto / -For: only the TLS proxy's. The
# default (loopback) suits a proxy on the same host; a proxy elsewhere must be named
# in FORWARDED_ALLOW_IPS — never "*" while gunicorn is reachable from other hosts.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

# The heartbeat file is fchmod()ed every second; on a disk-backed /tmp that can
# block a worker for seconds under I/O load (uploads fsync!). /dev/shm is memory.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108

# Access log to stdout (journald / the supervisor collects it), without personal data:
# no client address, no query string, no referrer, no user agent, and the incident
# code in /i/<code>/ replaced (amparo.gunicorn_logging). Method, path, status, bytes,
# milliseconds are what an operator needs to see load and errors.
accesslog = "-"
errorlog = "-"
logger_class = "amparo.gunicorn_logging.PrivateAccessLogger"
access_log_format = '%(t)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'

# No runtime control socket (gunicorn ≥ 25 opens one under $HOME by default): it is
# one more local way to reconfigure the server, and systemd's signals are enough.
control_socket_disable = True

# Workers are not recycled after N requests: a recycle waits only graceful_timeout
# for in-flight requests and would cut long uploads. Memory is flat per request.
max_requests = 0

# Each worker imports Django itself (no preload): autoreload works, and a worker that
# dies takes nothing shared with it.
preload_app = False

# Development only (`make run` with AMPARO_RELOAD=true): restart workers when code
# changes. Never in production — with the reloader gunicorn shows tracebacks to clients.
reload = _env_bool("AMPARO_RELOAD")

proc_name = "amparo-web"
