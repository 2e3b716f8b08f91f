"""Settings: one frozen dataclass, parsed from ``TETHER_*`` variables at startup."""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from . import affinity

DEFAULT_DATA_DIR = "./tether-data"


class ConfigError(ValueError):
    """A TETHER_* variable has a value that cannot be used."""


def _bool(name: str, raw: str) -> bool:
    low = raw.strip().lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"{name}: expected a boolean (true/false), got {raw!r}")


def _int(name: str, raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name}: expected an integer, got {raw!r}") from None


def _float(name: str, raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name}: expected a number, got {raw!r}") from None


_TYPES: dict[str, type | tuple[type, ...]] = {"bool": bool, "int": int, "float": (int, float), "str": str}

# Smallest accepted value of each numeric setting.
_MINIMUM: dict[str, float] = {
    "auth_cache_seconds": 0,
    "max_content_length": 1024,
    "max_batch_metrics": 1,
    "max_search_results": 1,
    "login_max_failures": 1,
    "login_lockout_seconds": 0,
    "webhook_timeout_seconds": 0.001,
    "webhook_max_attempts": 1,
    "webhook_retry_base_seconds": 0,
    "webhook_poll_seconds": 0.001,
}


@dataclass(frozen=True)
class Settings:
    """Every runtime option. ``ENV`` maps each field to its TETHER_* variable."""

    data_dir: str = DEFAULT_DATA_DIR
    database_url: str = ""  # default: sqlite:///<data_dir>/tether.db
    artifact_uri: str = ""  # default: <data_dir>/artifacts (local backend)
    s3_endpoint: str = ""
    s3_access_key: str = ""
    s3_secret_key: str = ""
    s3_region: str = ""
    s3_secure: bool = True
    s3_presign: bool = True
    secret_key: str = ""  # default: generated once, kept in <data_dir>/secret_key
    admin_token: str = ""
    auth_cache_seconds: int = 5
    max_content_length: int = 32 * 1024 * 1024
    max_batch_metrics: int = 10_000
    max_search_results: int = 1_000
    session_cookie_secure: bool = False
    default_permission: str = "NONE"  # NONE or READ: what users get on resources without a grant
    login_max_failures: int = 5
    login_lockout_seconds: int = 60
    require_decision_comment: bool = True  # approve/reject need a non-blank comment (API and UI)
    webhook_allowlist: str = ""  # comma-separated CIDRs/hosts allowed despite SSRF rules
    webhook_worker: bool = True  # run the webhook delivery worker (a thread) in each server process
    webhook_timeout_seconds: float = 10.0
    webhook_max_attempts: int = 8
    webhook_retry_base_seconds: float = 10.0
    webhook_poll_seconds: float = 2.0
    monitor_eval_seconds: float = 30.0  # monitoring evaluator period per process; 0 disables the thread
    abtest_eval_seconds: float = 60.0  # A/B test decision pass period per process; 0 disables the thread
    log_level: str = "INFO"
    metrics: str = "off"  # off | token | open: GET /metrics
    metrics_token: str = ""  # the bearer token a scraper sends when metrics = token
    credentials_file: str = ""  # default: ~/.config/tether/credentials.json
    log_format: str = "json"  # json (one object per line) or text (for development)
    public_url: str = ""  # e.g. https://ml.example.com/tether: absolute links and the path prefix
    trusted_proxies: int = 0  # hops of X-Forwarded-* headers to trust (0: ignore them)
    cpu_affinity: str = "auto"  # auto | on | off: pin each `tether server` worker to a CPU (affinity.py)
    testing: bool = False  # Flask's TESTING flag; set by the test suite, not from the environment

    ENV = {
        "data_dir": "TETHER_DATA_DIR",
        "database_url": "TETHER_DATABASE_URL",
        "artifact_uri": "TETHER_ARTIFACT_URI",
        "s3_endpoint": "TETHER_S3_ENDPOINT",
        "s3_access_key": "TETHER_S3_ACCESS_KEY",
        "s3_secret_key": "TETHER_S3_SECRET_KEY",
        "s3_region": "TETHER_S3_REGION",
        "s3_secure": "TETHER_S3_SECURE",
        "s3_presign": "TETHER_S3_PRESIGN",
        "secret_key": "TETHER_SECRET_KEY",
        "admin_token": "TETHER_ADMIN_TOKEN",
        "auth_cache_seconds": "TETHER_AUTH_CACHE_SECONDS",
        "max_content_length": "TETHER_MAX_CONTENT_LENGTH",
        "max_batch_metrics": "TETHER_MAX_BATCH_METRICS",
        "max_search_results": "TETHER_MAX_SEARCH_RESULTS",
        "session_cookie_secure": "TETHER_SESSION_COOKIE_SECURE",
        "default_permission": "TETHER_DEFAULT_PERMISSION",
        "login_max_failures": "TETHER_LOGIN_MAX_FAILURES",
        "login_lockout_seconds": "TETHER_LOGIN_LOCKOUT_SECONDS",
        "require_decision_comment": "TETHER_REQUIRE_DECISION_COMMENT",
        "webhook_allowlist": "TETHER_WEBHOOK_ALLOWLIST",
        "webhook_worker": "TETHER_WEBHOOK_WORKER",
        "webhook_timeout_seconds": "TETHER_WEBHOOK_TIMEOUT_SECONDS",
        "webhook_max_attempts": "TETHER_WEBHOOK_MAX_ATTEMPTS",
        "webhook_retry_base_seconds": "TETHER_WEBHOOK_RETRY_BASE_SECONDS",
        "webhook_poll_seconds": "TETHER_WEBHOOK_POLL_SECONDS",
        "monitor_eval_seconds": "TETHER_MONITOR_EVAL_SECONDS",
        "abtest_eval_seconds": "TETHER_ABTEST_EVAL_SECONDS",
        "log_level": "TETHER_LOG_LEVEL",
        "metrics": "TETHER_METRICS",
        "metrics_token": "TETHER_METRICS_TOKEN",
        "credentials_file": "TETHER_CREDENTIALS_FILE",
        "log_format": "TETHER_LOG_FORMAT",
        "public_url": "TETHER_PUBLIC_URL",
        "trusted_proxies": "TETHER_TRUSTED_PROXIES",
        "cpu_affinity": "TETHER_CPU_AFFINITY",
    }

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        env = os.environ if environ is None else environ
        kwargs: dict[str, Any] = {}
        types = {f.name: f.type for f in fields(cls)}
        for name, var in cls.ENV.items():
            if var not in env:
                continue
            raw = env[var]
            kind = types[name]
            if kind in ("bool", bool):
                kwargs[name] = _bool(var, raw)
            elif kind in ("int", int):
                kwargs[name] = _int(var, raw)
            elif kind in ("float", float):
                kwargs[name] = _float(var, raw)
            else:
                kwargs[name] = raw
        kwargs.update(overrides)
        return cls(**kwargs).validated()

    def validated(self) -> Settings:
        """Check every value once, at startup; a bad one raises ConfigError naming its variable."""
        for f in fields(self):
            value, kind = getattr(self, f.name), f.type
            expected = _TYPES.get(str(kind))
            if expected and (not isinstance(value, expected) or (kind != "bool" and isinstance(value, bool))):
                raise ConfigError(f"{self._var(f.name)}: expected {kind}, got {value!r}")
        for name, low in _MINIMUM.items():
            if getattr(self, name) < low:
                raise ConfigError(f"{self._var(name)}: must be at least {low}, got {getattr(self, name)!r}")
        if self.default_permission.upper() not in ("NONE", "READ"):
            raise ConfigError("TETHER_DEFAULT_PERMISSION: expected NONE or READ")
        if not isinstance(logging.getLevelName(self.log_level.upper()), int):
            raise ConfigError(
                f"TETHER_LOG_LEVEL: expected DEBUG, INFO, WARNING, ERROR or CRITICAL, got {self.log_level!r}"
            )
        if self.log_format.lower() not in ("json", "text"):
            raise ConfigError(f"TETHER_LOG_FORMAT: expected json or text, got {self.log_format!r}")
        if not 0 <= self.monitor_eval_seconds <= 30:
            raise ConfigError(
                f"TETHER_MONITOR_EVAL_SECONDS: expected 0 (off) to 30 seconds, got {self.monitor_eval_seconds!r}"
            )
        if not 0 <= self.abtest_eval_seconds <= 3600:
            raise ConfigError(
                f"TETHER_ABTEST_EVAL_SECONDS: expected 0 (off) to 3600 seconds, got {self.abtest_eval_seconds!r}"
            )
        if self.cpu_affinity.lower() not in affinity.MODES:
            raise ConfigError(f"TETHER_CPU_AFFINITY: expected auto, on or off, got {self.cpu_affinity!r}")
        if self.metrics.lower() not in ("off", "token", "open"):
            raise ConfigError(f"TETHER_METRICS: expected off, token or open, got {self.metrics!r}")
        if self.metrics.lower() == "token" and len(self.metrics_token) < 16:
            raise ConfigError("TETHER_METRICS=token needs TETHER_METRICS_TOKEN (at least 16 characters)")
        url = self.database_url
        if url and not (url.startswith("sqlite") or url.startswith("postgresql")):
            raise ConfigError("TETHER_DATABASE_URL: only sqlite:// and postgresql:// URLs are supported")
        if self.artifact_uri.startswith("s3://") and not self.artifact_uri[5:].split("/")[0]:
            raise ConfigError("TETHER_ARTIFACT_URI: s3:// URLs need a bucket (s3://bucket/prefix)")
        if not 0 <= self.trusted_proxies <= 10:
            raise ConfigError("TETHER_TRUSTED_PROXIES: expected a number of proxy hops from 0 to 10")
        public = self.public_url.strip().rstrip("/")
        if public:
            parts = urlsplit(public)
            if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
                raise ConfigError(
                    "TETHER_PUBLIC_URL: expected http(s)://host[:port][/prefix] without query or fragment"
                )
        if url.startswith("postgresql"):
            driver = url.split("://", 1)[0].partition("+")[2] or "psycopg"
            hint = "'tether-server[postgres]'" if driver == "psycopg" else driver
            _needs(driver, "TETHER_DATABASE_URL", hint)
        return replace(
            self,
            default_permission=self.default_permission.upper(),
            log_level=self.log_level.upper(),
            log_format=self.log_format.lower(),
            public_url=public,
            metrics=self.metrics.lower(),
            cpu_affinity=self.cpu_affinity.lower(),
        )

    @classmethod
    def _var(cls, name: str) -> str:
        return cls.ENV.get(name, name)

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir).expanduser().resolve()

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            url = self.database_url
            if url.startswith("postgresql://"):
                url = "postgresql+psycopg://" + url[len("postgresql://") :]
            return url
        return f"sqlite:///{self.data_path / 'tether.db'}"

    @property
    def resolved_artifact_uri(self) -> str:
        return self.artifact_uri or str(self.data_path / "artifacts")

    @property
    def resolved_credentials_file(self) -> Path:
        return Path(self.credentials_file or "~/.config/tether/credentials.json").expanduser()

    @property
    def url_prefix(self) -> str:
        """The path Tether is served under (``/tether`` for https://host/tether), or ``""``."""
        return urlsplit(self.public_url).path.rstrip("/") if self.public_url else ""

    @property
    def is_embedded(self) -> bool:
        return not self.database_url


def _needs(module: str, setting: str, install: str) -> None:
    """Fail at startup, in one line, when a setting needs an optional dependency that is missing.

    The package is looked up, not imported: settings are read in processes that never use the driver
    (gunicorn's master reads the log format through them), and importing psycopg costs ~12 MiB."""
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise ConfigError(
            f"{setting} needs the Python package {module!r}, which is not installed: pip install {install}"
        ) from None
