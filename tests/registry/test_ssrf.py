"""SSRF guard: every notation of internal addresses is refused; allowlist; connect-time and redirect checks."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from tests.registry.receiver import Receiver
from tether_server.services.events import ssrf

NONE = ssrf.Allowlist.parse("")

REFUSED = [
    "http://127.0.0.1/",
    "http://127.1/",
    "http://2130706433/",
    "http://0x7f000001/",
    "http://0x7f.0.0.1/",
    "http://0177.0.0.1/",
    "http://017700000001/",
    "http://0/",
    "http://0.0.0.0/",
    "http://[::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://[0:0:0:0:0:ffff:169.254.169.254]/",
    "http://[::127.0.0.1]/",
    "http://[64:ff9b::a9fe:a9fe]/",
    "http://[2002:7f00:1::]/",
    "http://169.254.169.254/latest/meta-data/",
    "http://2852039166/",
    "http://0xa9fea9fe/",
    "http://[fe80::1]/",
    "http://[fd00:ec2::254]/",
    "http://10.0.0.1/",
    "http://172.16.5.4/",
    "http://192.168.1.1/",
    "http://100.100.100.200/",
    "http://224.0.0.1/",
    "http://localhost/",
    "http://LOCALHOST./",
    "http://app.localhost/",
    "http://metadata.google.internal/",
    "ftp://example.com/",
    "http://user:pw@example.com/",
    "http:///nohost",
]


@pytest.mark.parametrize("url", REFUSED)
def test_internal_addresses_are_refused_in_every_notation(url, monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo", _fake_dns({"metadata.google.internal": "169.254.169.254"}))
    with pytest.raises(ssrf.UnsafeURL):
        ssrf.check_url(url, NONE)


@pytest.mark.parametrize(
    "host,expected",
    [
        ("2130706433", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("10.1", "10.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("1.2.3.4", "1.2.3.4"),
        ("09.1.1.1", None),
        ("1.2.3.256", None),
    ],
)
def test_legacy_ipv4_parser(host, expected):
    got = ssrf.literal_ip(host)
    assert (str(got) if got else None) == expected


def _fake_dns(table):
    def fake(host, port, *args, **kwargs):
        ip = table.get(host) or (host if ssrf.literal_ip(host) else None)
        if ip is None:
            raise socket.gaierror("no such host")
        fam = socket.AF_INET6 if ":" in ip else socket.AF_INET
        return [(fam, socket.SOCK_STREAM, 6, "", (ip, port))]

    return fake


def test_hostnames_resolving_inside_are_refused_and_public_ones_pass(monkeypatch):
    monkeypatch.setattr(
        socket,
        "getaddrinfo",
        _fake_dns(
            {"evil.example": "10.1.2.3", "good.example": "93.184.216.34", "v6.example": "::ffff:192.168.0.1"}
        ),
    )
    for host in ("evil.example", "v6.example"):
        with pytest.raises(ssrf.UnsafeURL) as e:
            ssrf.check_url(f"https://{host}/x", NONE)
        assert e.value.reason == "blocked_address"
    target = ssrf.check_url("https://good.example/x?y=1", NONE)
    assert target.ips == (ipaddress.ip_address("93.184.216.34"),) and target.path == "/x?y=1"
    with pytest.raises(ssrf.UnsafeURL) as e:
        ssrf.check_url("https://missing.example/", NONE)
    assert e.value.reason == "dns_error"


def test_allowlist_by_cidr_and_host():
    ssrf.check_url("http://127.0.0.1:8080/", ssrf.Allowlist.parse("127.0.0.0/8"))
    ssrf.check_url("http://10.2.3.4/", ssrf.Allowlist.parse(" 192.168.0.0/16 , 10.2.3.4 "))
    with pytest.raises(ssrf.UnsafeURL):
        ssrf.check_url("http://10.2.3.5/", ssrf.Allowlist.parse("10.2.3.4"))


def test_connect_time_recheck_refuses_a_peer_that_turns_out_internal(monkeypatch):
    """DNS says public; the connection lands on loopback (rebinding/NAT): refused before sending."""
    with Receiver() as rx:
        port = rx.server.server_port
        monkeypatch.setattr(socket, "getaddrinfo", _fake_dns({"rebind.example": "93.184.216.34"}))
        real = socket.create_connection
        monkeypatch.setattr(
            socket, "create_connection", lambda addr, *a, **k: real(("127.0.0.1", port), *a, **k)
        )
        code, err = ssrf.post(f"http://rebind.example:{port}/hook", b"{}", {}, NONE, timeout=5)
    assert (code, err) == (None, "blocked_address") and rx.received == []


def test_redirects_are_not_followed_by_default_and_rechecked_when_followed():
    allow = ssrf.Allowlist.parse("127.0.0.1/32")
    with Receiver(statuses=[302], location="http://169.254.169.254/latest/meta-data/") as rx:
        assert ssrf.post(rx.url, b"{}", {}, allow, timeout=5) == (302, "redirect_not_followed")
    with Receiver(statuses=[302], location="http://169.254.169.254/latest/meta-data/") as rx:
        assert ssrf.post(rx.url, b"{}", {}, allow, timeout=5, follow_redirects=True) == (
            None,
            "blocked_address",
        )
    with Receiver(statuses=[307]) as rx:
        rx.location = rx.url + "2"
        assert ssrf.post(rx.url, b"{}", {}, allow, timeout=5, follow_redirects=True) == (200, None)
        assert len(rx.received) == 2
