"""The egress guard, one case per SSRF bypass class. No request ever leaves for a refused
address: the guard decides before it connects, and these tests give it a transport that fails
the test if it is used at all, or a stub resolver standing in for DNS."""

from __future__ import annotations

import ipaddress

import httpx
import pytest

from services.tooling.egress import EgressDenied, EgressFailed, EgressGuard, refusal
from tests.support.http_server import local_http_server


class NoConnections(httpx.AsyncBaseTransport):
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"a request left for {request.url}")


def stub_resolver(answers: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    async def resolve(host: str) -> list[str]:
        if host not in answers:
            raise OSError("unknown host")
        return answers[host]

    return resolve


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "100.64.0.1",  # carrier-grade NAT
        "169.254.169.254",  # metadata (AWS, GCP, Azure)
        "100.100.100.200",  # metadata (Alibaba)
        "224.0.0.251",  # multicast
        "0.0.0.0",
        "255.255.255.255",
        "::1",
        "fe80::1",
        "fc00::1",
        "fd00:ec2::254",  # EC2 IPv6 metadata
        "ff02::1",
        "::ffff:169.254.169.254",  # IPv4-mapped
        "::ffff:127.0.0.1",
        "::169.254.169.254",  # IPv4-compatible
        "::127.0.0.1",
        "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    ],
)
def test_non_public_addresses_are_refused_in_every_form(address: str) -> None:
    assert refusal(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", ["93.184.215.14", "2606:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_pass(address: str) -> None:
    assert refusal(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://2852039166/latest/meta-data/",  # decimal 169.254.169.254
        "http://0xa9fea9fe/",  # hexadecimal
        "http://0251.0376.0251.0376/",  # octal
        "http://127.1/",  # short form
        "http://[::ffff:169.254.169.254]/",
        "http://[::ffff:a9fe:a9fe]/",
        "http://[fd00:ec2::254]/",
        "http://0.0.0.0:8080/",
    ],
)
async def test_encodings_of_private_hosts_are_refused_before_connecting(url: str) -> None:
    guard = EgressGuard(transport=NoConnections())
    try:
        # Denied for its address, or (octal, which the URL parser rejects) as no valid URL;
        # a connection attempt would fail the test through NoConnections.
        with pytest.raises((EgressDenied, EgressFailed)):
            await guard.request("GET", url)
    finally:
        await guard.close()


async def test_a_name_resolving_to_a_private_address_is_refused() -> None:
    guard = EgressGuard(
        transport=NoConnections(),
        resolver=stub_resolver(
            {
                "metadata.attacker.test": ["169.254.169.254"],
                "mixed.attacker.test": ["93.184.215.14", "10.0.0.5"],
            }
        ),
    )
    try:
        for host in ("metadata.attacker.test", "mixed.attacker.test"):
            with pytest.raises(EgressDenied, match=r"non-public|metadata"):
                await guard.request("GET", f"http://{host}/")
        with pytest.raises(EgressFailed, match="does not resolve"):
            await guard.request("GET", "http://nowhere.attacker.test/")
        with pytest.raises(EgressDenied, match="not an http"):
            await guard.request("GET", "file:///etc/passwd")
    finally:
        await guard.close()


async def test_the_connection_goes_to_the_checked_address_not_a_second_lookup() -> None:
    """DNS rebinding: the first answer is public, a second would be private. The guard asks
    once and connects to the address it checked, with the original Host header."""
    answers = iter([["93.184.215.14"], ["169.254.169.254"]])
    seen: list[httpx.Request] = []

    async def rebinding(host: str) -> list[str]:
        return next(answers)

    class Record(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            seen.append(request)
            return httpx.Response(200, json={"ok": True})

    guard = EgressGuard(transport=Record(), resolver=rebinding)
    try:
        response = await guard.request(
            "GET", "https://rebind.attacker.test/x", headers={"Host": "169.254.169.254"}
        )
    finally:
        await guard.close()
    assert response.status_code == 200
    assert [str(r.url) for r in seen] == ["https://93.184.215.14/x"]
    assert seen[0].headers.get_list("host") == ["rebind.attacker.test"]
    assert seen[0].extensions["sni_hostname"] == "rebind.attacker.test"


async def test_redirects_are_checked_at_every_hop() -> None:
    with local_http_server() as server:
        guard = EgressGuard(allowed_hosts=frozenset({"127.0.0.1"}))
        try:
            for target in (
                "http://169.254.169.254/latest/meta-data/",
                f"http://localhost:{server.port}/echo/x",  # allowed by name only as 127.0.0.1
                f"http://[::ffff:127.0.0.1]:{server.port}/echo/x",
            ):
                with pytest.raises(EgressDenied):
                    await guard.request("GET", f"{server.base}/redirect?to={target}")
            followed = await guard.request(
                "GET", f"{server.base}/redirect?to={server.base}/echo/ok"
            )
            assert followed.status_code == 200
        finally:
            await guard.close()
        assert server.hits("/echo/x") == 0
        assert server.hits("/echo/ok") == 1


async def test_response_size_and_time_are_capped() -> None:
    with local_http_server() as server:
        guard = EgressGuard(allowed_hosts=frozenset({"127.0.0.1"}), max_response_bytes=64 * 1024)
        try:
            with pytest.raises(EgressFailed) as too_large:
                await guard.request("GET", f"{server.base}/big")
            assert too_large.value.reason == "RESPONSE_TOO_LARGE"
            with pytest.raises(TimeoutError):
                await guard.request("GET", f"{server.base}/hang", timeout_seconds=0.2)
        finally:
            await guard.close()


async def test_allowed_hosts_are_matched_as_written() -> None:
    guard = EgressGuard(allowed_hosts=frozenset({"127.0.0.1"}), transport=NoConnections())
    try:
        with pytest.raises(EgressDenied):
            await guard.request("GET", "http://2130706433/")  # 127.0.0.1, but not as written
    finally:
        await guard.close()
