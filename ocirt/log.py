"""Logging in runc's shapes: with --log-format json one object per line,
{"level": ..., "msg": ..., "time": ...} (containerd and podman read the last
error from that file); otherwise logfmt text. Goes to --log, else stderr.

structlog costs tens of milliseconds to import, so it is imported on the
first message only: a command that logs nothing never pays for it.
"""

import sys

_settings = {"file": None, "format": "text", "debug": False}
_logger = None


def configure(file=None, fmt="text", debug=False):
    global _logger
    _settings.update(file=file, format=fmt, debug=debug)
    _logger = None


def _rename_event(_, __, event_dict):
    event_dict["msg"] = event_dict.pop("event")
    return event_dict


def _get():
    global _logger
    if _logger is None:
        import logging

        import structlog
        stream = open(_settings["file"], "a", buffering=1) if _settings["file"] else sys.stderr
        renderer = structlog.processors.JSONRenderer() if _settings["format"] == "json" \
            else structlog.processors.LogfmtRenderer(key_order=["time", "level", "msg"])
        _logger = structlog.wrap_logger(
            structlog.PrintLogger(stream),
            wrapper_class=structlog.make_filtering_bound_logger(
                logging.DEBUG if _settings["debug"] else logging.INFO),
            processors=[structlog.processors.add_log_level, _rename_event,
                        structlog.processors.TimeStamper(fmt="iso", utc=True, key="time"),
                        renderer],
            cache_logger_on_first_use=True)
    return _logger


def debug(msg, **fields):
    if _settings["debug"]:
        _get().debug(msg, **fields)


def warning(msg, **fields):
    _get().warning(msg, **fields)


def error(msg, **fields):
    _get().error(msg, **fields)
