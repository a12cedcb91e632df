"""The SSRF guard's address rules (``services/enricher/addresses.py``): which hosts and addresses are refused."""

from __future__ import annotations

import ipaddress

import pytest

from services.enricher.addresses import AddressPolicy, parse_ip_host, parse_networks

REFUSED = [
    "127.0.0.1", "127.255.255.254", "2130706433", "0177.0.0.1", "0x7f000001", "0x7f.0.0.1", "127.1", "127.0.0.1.",
    "0", "0.0.0.0", "10.0.0.5", "172.16.0.1", "192.168.1.1", "100.64.0.1", "169.254.169.254", "192.0.2.1",
    "198.18.0.1", "224.0.0.1", "240.0.0.1", "255.255.255.255",
    "::1", "[::1]", "::", "::ffff:127.0.0.1", "[::ffff:7f00:1]", "::ffff:169.254.169.254", "::127.0.0.1",
    "fd00:ec2::254", "fc00::1", "fe80::1", "fe80::1%eth0", "ff02::1", "2001:db8::1",
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "64:ff9b::a00:5",  # NAT64 of 10.0.0.5
    "localhost", "LOCALHOST.", "api.localhost",
]
PUBLIC = ["8.8.8.8", "93.184.216.34", "134744072", "::ffff:8.8.8.8", "2606:4700::1111", "example.com",
          "acme.com.br", "99designs.com", "cafe.de", "123.de", "deadbeef"]


@pytest.mark.parametrize("host", REFUSED)
def test_private_loopback_metadata_and_reserved_hosts_are_refused_in_every_form(host: str) -> None:
    assert AddressPolicy().refuses_host(host)


@pytest.mark.parametrize("host", PUBLIC)
def test_public_addresses_and_host_names_are_not_refused_before_resolution(host: str) -> None:
    assert not AddressPolicy().refuses_host(host)


def test_numeric_hosts_are_read_as_inet_aton_reads_them() -> None:
    assert parse_ip_host("2130706433") == ipaddress.ip_address("127.0.0.1")
    assert parse_ip_host("0177.0.0.01") == ipaddress.ip_address("127.0.0.1")
    assert parse_ip_host("0x7f.1") == ipaddress.ip_address("127.0.0.1")
    assert parse_ip_host("10.1") == ipaddress.ip_address("10.0.0.1")
    assert parse_ip_host("192.168.257") == ipaddress.ip_address("192.168.1.1")
    for not_an_address in ("256.1.1.1", "1.2.3.4.5", "08.1.1.1", "0x100.1.1.1", "example.com", "", "1..2"):
        assert parse_ip_host(not_an_address) is None, not_an_address


def test_the_allow_list_lets_its_networks_through_and_nothing_else() -> None:
    policy = AddressPolicy("127.0.0.0/8, ::1/128")
    for host in ("127.0.0.1", "2130706433", "[::1]", "::ffff:127.0.0.1", "localhost"):
        assert not policy.refuses_host(host), host
    assert policy.allows_address("127.0.0.2") and policy.allows_address("::1")
    for host in ("10.0.0.5", "169.254.169.254", "fd00::1", "0.0.0.0"):
        assert policy.refuses_host(host), host
    assert not AddressPolicy().allows_address("127.0.0.1")
    assert not AddressPolicy().allows_address("not an address")


def test_a_bad_allow_list_is_refused_with_the_setting_named() -> None:
    assert parse_networks("") == ()
    with pytest.raises(ValueError, match="FETCH_ALLOW_NETWORKS"):
        parse_networks("127.0.0.0/8,localhost")
