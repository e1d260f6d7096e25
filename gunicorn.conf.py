"""gunicorn settings for Disclosure: `gunicorn -c gunicorn.conf.py wsgi:app`, which `make serve` runs.

Environment: DISCLOSURE_BIND (default 127.0.0.1:8000, so that only the TLS proxy on this host reaches it; a unix
socket is `unix:/run/disclosure/gunicorn.sock`), DISCLOSURE_WORKERS and DISCLOSURE_THREADS (default: from the CPU
count, below). Everything else the app reads itself (DISCLOSURE_DATABASE_URL, instance/config.py, ...), including
how it trusts the proxy's X-Forwarded-* headers (PROXY_FIX).
"""

import os
from typing import Any

from disclosure.logging_setup import gunicorn_logconfig


def _setting(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


# CPUs this process may run on (a container's or systemd's CPU set), not the machine's.
cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1

bind = os.environ.get("DISCLOSURE_BIND", "127.0.0.1:8000")

# Threads in a few processes rather than many single-threaded processes. A request here mostly waits for the
# database or the disk, or runs C code that lets go of the GIL (argon2id, SHA-256, AES-GCM), so 4 threads keep a
# process busy where 4 sync workers would each sit idle on their waits (4 sync workers on 2 cores served the case
# list at 0.13-0.15x the rate of /health, issue #18); and a slow request (an upload, a PDF) no longer holds a
# whole process. Processes: gunicorn's 2 x cores + 1, so one process's pause (the GIL, a collection) leaves the
# CPUs busy, capped at 12 so that workers x threads (each thread holds at most one database connection) stays at
# 48, well inside PostgreSQL's default max_connections of 100 beside the job worker and an operator's commands,
# and so that concurrent sign-ins (argon2id holds 64 MiB each) stay within memory.
worker_class = "gthread"
workers = _setting("DISCLOSURE_WORKERS", min(2 * cores + 1, 12))
threads = _setting("DISCLOSURE_THREADS", 4)

# A gthread worker's main loop reports to the master while its threads serve requests, so the timeout kills only
# a worker that has stopped answering altogether (a deadlock), never a slow request.
timeout = 60
# On a restart (SIGHUP, a deploy, max_requests) a worker gets this long to finish the requests it has.
graceful_timeout = 30
keepalive = 5

# Each worker is replaced, gracefully, after 1,000 to 1,200 requests, so whatever slowly accumulates in a long-lived
# process (fragmentation, a leak in a library) never does for long; the jitter keeps workers from restarting together.
max_requests = 1000
max_requests_jitter = 200

# The app is created once, in the master, before it forks the workers: a bad configuration stops the server at
# start with the app's own message, rather than every worker failing in a loop, and the workers start at once and
# share the loaded code. Code changes then need a restart, not a reload (SIGHUP).
preload_app = True


def post_fork(server: object, worker: Any) -> None:
    # The workers are forked from the master after it created the app: no database connection may be shared
    # across the fork. (The app opens none while it is created; this holds even if that changes.)
    from disclosure.app import forget_inherited_connections

    forget_inherited_connections(worker.app.wsgi())


# Logs: gunicorn's, and the app's, one JSON object per line (DISCLOSURE_LOG_FORMAT=text for plain lines); errors
# and the app's records on stderr, the access log on stdout. The access line has the path without its query string
# (%(U)s, never %(r)s, which is the whole request line), no referrer and no user agent; the request's correlation
# id is read off its X-Request-Id response header.
accesslog = "-"
errorlog = "-"
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms request=%({x-request-id}o)s'
logconfig_dict = gunicorn_logconfig()

# X-Forwarded-* and the client's address: the app's PROXY_FIX setting decides how many proxies to trust (ProxyFix),
# so forwarded_allow_ips keeps gunicorn's default (FORWARDED_ALLOW_IPS, or this host only).

# gunicorn 25 and later open a control socket under $HOME or $XDG_RUNTIME_DIR by default: not needed here (systemd
# sends the signals) and one fewer way in. Older versions ignore the name.
control_socket_disable = True
