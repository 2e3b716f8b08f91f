"""SSRF guard for outgoing webhook requests.

Refuses loopback, link-local (cloud metadata at 169.254.169.254), private, CGNAT, multicast, reserved and
unspecified addresses, whatever the notation: dotted, decimal (2130706433), hex (0x7f000001, 0x7f.0.0.1),
octal (0177.0.0.1), short forms (127.1), IPv6, IPv4-mapped/compatible IPv6 (::ffff:127.0.0.1), NAT64 and
6to4. Every resolved address must pass; the connection is then pinned to a vetted address (no second DNS
lookup to rebind) and the peer address is checked again once connected. Redirects are not followed
unless asked, and each hop is vetted like the first. ``allowlist`` (Settings.webhook_allowlist: CIDRs
and host names, comma-separated) lets internal receivers through.
"""

from __future__ import annotations

import http.client
import ipaddress
import re
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

IP = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

BLOCKED_NAMES = {
    "localhost",
    "metadata",
    "metadata.google.internal",
    "metadata.goog",
    "instance-data",
    "instance-data.ec2.internal",
}
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_LEGACY_V4 = re.compile(r"^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}$", re.IGNORECASE)


class UnsafeURL(Exception):
    """The URL may not be called; ``reason`` is a short, stable class name."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Allowlist:
    networks: tuple[Network, ...] = ()
    hosts: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, raw: str) -> Allowlist:
        nets: list[Network] = []
        hosts: set[str] = set()
        for item in (p.strip() for p in (raw or "").split(",")):
            if not item:
                continue
            try:
                nets.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                hosts.add(item.lower().rstrip("."))
        return cls(tuple(nets), frozenset(hosts))

    def allows_ip(self, ip: IP) -> bool:
        return any(ip.version == n.version and ip in n for n in self.networks)


def _legacy_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """inet_aton-style numbers: 1-4 parts, each decimal, 0x-hex or 0-octal; the last fills the rest."""
    if not _LEGACY_V4.match(host):
        return None
    try:
        parts = [
            int(p, 16)
            if p.lower().startswith("0x")
            else (int(p, 8) if len(p) > 1 and p[0] == "0" else int(p))
            for p in host.split(".")
        ]
    except ValueError:
        return None
    *head, last = parts
    if any(p > 255 for p in head) or last >= 256 ** (4 - len(head)):
        return None
    value = 0
    for p in head:
        value = value * 256 + p
    return ipaddress.IPv4Address(value * 256 ** (4 - len(head)) + last)


def literal_ip(host: str) -> IP | None:
    h = host.strip("[]")
    try:
        return ipaddress.ip_address(h.split("%", 1)[0])
    except ValueError:
        return _legacy_ipv4(h)


def blocked_reason(ip: IP) -> str | None:
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is None and int(ip) >> 32 == 0 and int(ip) > 1:  # deprecated IPv4-compatible ::a.b.c.d
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return blocked_reason(embedded)
    for reason in ("loopback", "link_local", "unspecified", "multicast", "private", "reserved"):
        if getattr(ip, f"is_{reason}"):
            return reason
    return None if ip.is_global else "non_global"


def _resolve(host: str, port: int) -> list[IP]:
    lit = literal_ip(host)
    if lit is not None:
        return [lit]
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise UnsafeURL("dns_error", f"cannot resolve {host!r}") from None
    ips: list[IP] = []
    for *_x, sockaddr in infos:
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if ip not in ips:
            ips.append(ip)
    return ips


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str
    ips: tuple[IP, ...]


def check_url(url: str, allow: Allowlist) -> Target:
    """Parse and vet ``url``; returns the vetted addresses to connect to."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise UnsafeURL("invalid_url", "the URL cannot be parsed") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeURL("invalid_url", "only http:// and https:// URLs with a host are allowed")
    if parts.username or parts.password:
        raise UnsafeURL("invalid_url", "credentials in the URL are not allowed")
    host = parts.hostname.lower().rstrip(".")
    ips = _resolve(host, port)
    if host not in allow.hosts:
        if host in BLOCKED_NAMES or host.endswith(".localhost"):
            raise UnsafeURL("blocked_host", f"{host!r} is an internal host name")
        for ip in ips:
            reason = blocked_reason(ip)
            if reason and not allow.allows_ip(ip):
                raise UnsafeURL("blocked_address", f"{host!r} resolves to a {reason} address")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(parts.scheme, host, port, path, tuple(ips))


class _PinnedConnection(http.client.HTTPConnection):
    """Connects to a vetted IP (no re-resolution) and re-checks the peer once connected."""

    def __init__(self, target: Target, allow: Allowlist, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self._target, self._allow = target, allow

    def _open(self) -> socket.socket:
        last: OSError | None = None
        for ip in self._target.ips:
            try:
                sock = socket.create_connection((str(ip), self._target.port), self.timeout)
            except OSError as e:
                last = e
                continue
            peer = ipaddress.ip_address(sock.getpeername()[0].split("%", 1)[0])
            if (
                self._target.host not in self._allow.hosts
                and blocked_reason(peer)
                and not self._allow.allows_ip(peer)
            ):
                sock.close()
                raise UnsafeURL("blocked_address", "connected peer is not an allowed address")
            return sock
        raise last or OSError("no address to connect to")

    def connect(self) -> None:
        self.sock = self._open()


class _PinnedTLSConnection(_PinnedConnection):
    def connect(self) -> None:
        ctx = ssl.create_default_context()
        self.sock = ctx.wrap_socket(self._open(), server_hostname=self._target.host)


def post(
    url: str,
    body: bytes,
    headers: dict[str, str],
    allow: Allowlist,
    *,
    timeout: float = 10.0,
    follow_redirects: bool = False,
    max_redirects: int = 3,
) -> tuple[int | None, str | None]:
    """POST ``body``; returns (status code, short error class or None). The response body is discarded."""
    for _hop in range(max_redirects + 1):
        try:
            target = check_url(url, allow)
            cls = _PinnedTLSConnection if target.scheme == "https" else _PinnedConnection
            conn = cls(target, allow, timeout)
            try:
                conn.request("POST", target.path, body=body, headers=headers)
                resp = conn.getresponse()
                resp.read(4096)  # drained and dropped: never stored or echoed
                status, location = resp.status, resp.getheader("Location")
            finally:
                conn.close()
        except UnsafeURL as e:
            return None, e.reason
        except ssl.SSLError:
            return None, "tls_error"
        except TimeoutError:
            return None, "timeout"
        except (OSError, http.client.HTTPException):
            return None, "connection_error"
        if 300 <= status < 400 and location:
            if not follow_redirects:
                return status, "redirect_not_followed"
            url = urljoin(url, location)
            continue
        return status, None if 200 <= status < 300 else f"http_{status}"
    return None, "too_many_redirects"
