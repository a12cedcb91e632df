"""Which addresses the enricher may fetch from (the SSRF guard).

Nothing fetched from the web is trusted, and neither are the addresses a lead, an e-mail domain or a
redirect points to: a site must not make the enricher ask the machine itself, its network or the cloud's
metadata service for anything. Only public unicast addresses are fetched from: loopback, private,
shared (CGNAT), link-local (cloud metadata at 169.254.169.254), unique-local, unspecified, multicast,
reserved and documentation ranges are refused, also when written as a decimal, octal or hexadecimal
number (``http://2130706433/``, ``http://0177.0.0.1/``), as IPv6 (``[::1]``) or embedded in IPv6
(IPv4-mapped ``::ffff:127.0.0.1``, 6to4, Teredo, NAT64).

``FETCH_ALLOW_NETWORKS`` (CIDRs, e.g. ``127.0.0.0/8,::1/128``) lets chosen networks through: the tests'
web farms on loopback opt in with it, nothing does by default.

The transport checks the address it actually connects to, after its own (cached) name lookup, so a name
that resolves to a refused address (DNS rebinding included: the checked address is the one connected to)
is refused; the fetcher checks every URL (each redirect hop) before anything is sent, which is the only
check possible through a proxy, where the proxy resolves names: there IP literals in any form and
``localhost`` names are refused before the proxy is asked.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

import httpx

BLOCKED = "blocked_address"  # the error recorded on the refused request's API call

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_NUMERIC = frozenset("0123456789abcdefx.")
_MEMO_SIZE = 50_000


class BlockedAddress(httpx.ConnectError):
    """A request to an address the policy refuses: nothing was sent to it."""


def parse_ip_host(host: str) -> IPAddress | None:
    """The IP address a URL's host names literally, in any form a resolver takes (``127.1``, ``0x7f.1``,
    ``2130706433``, ``0177.0.0.1``, ``[::1]``); None for a host name."""
    h = host.strip().removeprefix("[").removesuffix("]").rstrip(".").lower()
    if not h:
        return None
    try:
        return ipaddress.ip_address(h)
    except ValueError:
        pass
    if "%" in h:  # an IPv6 zone the ipaddress module does not take
        try:
            return ipaddress.ip_address(h.split("%", 1)[0])
        except ValueError:
            return None
    if not _NUMERIC.issuperset(h):
        return None
    return _inet_aton(h)


def _inet_aton(text: str) -> ipaddress.IPv4Address | None:
    """An IPv4 address in inet_aton's forms: 1 to 4 parts, each decimal, 0-octal or 0x-hex, the last
    filling the remaining bytes (what glibc, curl and browsers accept)."""
    parts = text.split(".")
    if len(parts) > 4:
        return None
    numbers: list[int] = []
    for part in parts:
        if not part:
            return None
        if part.startswith("0x"):
            base, digits = 16, part[2:] or "0"
        elif len(part) > 1 and part.startswith("0"):
            base, digits = 8, part[1:]
        else:
            base, digits = 10, part
        try:
            numbers.append(int(digits, base))
        except ValueError:
            return None
    *head, last = numbers
    if any(n > 255 for n in head) or last >= 256 ** (4 - len(head)):
        return None
    value = 0
    for n in head:
        value = value << 8 | n
    return ipaddress.IPv4Address(value << 8 * (4 - len(head)) | last)


def is_public(ip: IPAddress) -> bool:
    """A global unicast address (with any IPv4 address embedded in it global too)."""
    if ip.version == 6:
        assert isinstance(ip, ipaddress.IPv6Address)
        if ip.scope_id:
            ip = ipaddress.IPv6Address(int(ip))
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None and not is_public(embedded):
            return False
        if ip.ipv4_mapped is not None:
            return True
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_unspecified or ip.is_loopback
                                 or ip.is_link_local or ip.is_private)


def parse_networks(text: str | Iterable[str] | None) -> tuple[IPNetwork, ...]:
    """``FETCH_ALLOW_NETWORKS``: CIDRs (or single addresses) separated by commas or spaces."""
    if not text:
        return ()
    items = text.replace(",", " ").split() if isinstance(text, str) else [str(t).strip() for t in text]
    out: list[IPNetwork] = []
    for item in items:
        try:
            out.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"FETCH_ALLOW_NETWORKS: {item!r} is not a network (e.g. 127.0.0.0/8)") from None
    return tuple(out)


class AddressPolicy:
    """Public addresses, plus the networks of the allow-list. Answers are remembered per address/host, so a
    check costs a dict lookup on the hot path."""

    def __init__(self, allow: str | Iterable[str] | None = None) -> None:
        self.allow = parse_networks(allow)
        self._addresses: dict[str, bool] = {}
        self._hosts: dict[str, bool] = {}

    @classmethod
    def from_settings(cls, settings: object) -> AddressPolicy:
        return cls(getattr(settings, "fetch_allow_networks", None))

    def allowed_ip(self, ip: IPAddress) -> bool:
        if ip.version == 6 and ip.ipv4_mapped is not None:  # type: ignore[union-attr]
            ip = ip.ipv4_mapped  # type: ignore[union-attr]
        if self.allow:
            plain = ipaddress.IPv6Address(int(ip)) if ip.version == 6 and ip.scope_id else ip  # type: ignore[union-attr]
            if any(plain in net for net in self.allow):
                return True
        return is_public(ip)

    def allows_address(self, address: str) -> bool:
        """May a connection be made to ``address`` (an IP address as the resolver gave it)?"""
        ok = self._addresses.get(address)
        if ok is None:
            ip = parse_ip_host(address)
            ok = ip is not None and self.allowed_ip(ip)
            if len(self._addresses) >= _MEMO_SIZE:
                self._addresses.clear()
            self._addresses[address] = ok
        return ok

    def refuses_host(self, host: str) -> bool:
        """Is a URL's host refused before any lookup: an IP literal of a refused address (any form), or a
        ``localhost`` name (loopback) while loopback is not allowed. Other names are checked on the
        addresses they resolve to."""
        refused = self._hosts.get(host)
        if refused is None:
            name = host.lower().rstrip(".")
            if name == "localhost" or name.endswith(".localhost"):
                refused = not self.allows_address("127.0.0.1")
            else:
                ip = parse_ip_host(name)
                refused = ip is not None and not self.allowed_ip(ip)
            if len(self._hosts) >= _MEMO_SIZE:
                self._hosts.clear()
            self._hosts[host] = refused
        return refused


def blocked(host: str, port: int | None = None) -> BlockedAddress:
    where = f"{host}:{port}" if port else host
    return BlockedAddress(f"{BLOCKED}: {where} is not a public address (FETCH_ALLOW_NETWORKS lets networks through)")
