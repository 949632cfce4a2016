"""Log formatting: readable lines in development, one JSON object per line in production, and
the request id on every line written while a request is served (core/request_id.py)."""

import logging

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter as BaseJsonFormatter

from ..core.events import log_event
from ..core.request_id import current_request


class RequestContextFilter(logging.Filter):
    """Give every record a request_id: the id of the request being served, or "-"."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            request = current_request.get()
            record.request_id = getattr(request, "request_id", "-")
        return True


class JsonFormatter(BaseJsonFormatter):
    """time, level, logger, message and request_id; a security event's fields at the top level, so
    that `event`, `client_ip` and `user_id` can be searched directly."""

    def __init__(self) -> None:
        super().__init__(
            "{asctime}{levelname}{name}{message}{request_id}",
            style="{",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            # Django attaches the request object to its records; its repr holds the query string.
            reserved_attrs=[*RESERVED_ATTRS, "request"],
        )

    def add_fields(self, log_data, record, message_dict) -> None:
        super().add_fields(log_data, record, message_dict)
        for name, value in log_data.pop("security", {}).items():
            log_data.setdefault(name, value)


class DjangoSecurityHandler(logging.Handler):
    """Django's own security records (the django.security.* loggers) as events of the security
    log: request.disallowed_host for a Host the site does not serve, request.suspicious for the
    other SuspiciousOperation kinds (an oversized body, too many fields, a path outside a storage,
    ...). CSRF failures are left to CSRF_FAILURE_VIEW, which logs csrf.failed with its reason."""

    def emit(self, record: logging.LogRecord) -> None:
        kind = record.name.removeprefix("django.security.")
        if kind == "csrf":
            return
        event = "request.disallowed_host" if kind == "DisallowedHost" else "request.suspicious"
        # Not the signed-in user: finding them loads the session, and a corrupted session (a
        # SuspiciousSession record, after a key rotation) would be reported again, for ever.
        log_event(
            event,
            getattr(record, "request", None),
            level=logging.WARNING,
            signed_in_user=False,
            kind=kind,
        )
