"""The one way out: every outbound call a tenant can influence (HTTP tools, MCP over HTTP)
goes through :class:`EgressGuard`.

The host is resolved once; every address it resolves to must be public (no private, loopback,
link-local, carrier-grade NAT, multicast, reserved or cloud-metadata address, in any encoding:
IPv4-mapped, IPv4-compatible, 6to4 and NAT64 IPv6 forms carry their IPv4 address, and decimal or
octal hosts are judged by what they resolve to). The connection goes to the address that was
checked, never to a second resolution (DNS rebinding), with the original Host header and TLS
server name. Redirects are followed by hand, each hop checked again. Time and response size are
capped. Nothing of the platform's own (proxy settings, netrc, credentials) is sent. Operators
may allow named hosts that would otherwise be refused.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urljoin

import httpx
import httpx2

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
#: Resolves a host name to its addresses (the default asks the system resolver once).
Resolver = Callable[[str], Awaitable[list[str]]]

#: Addresses a tool must never reach, beyond what ``is_global`` already excludes.
_REFUSED_NETWORKS = [
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",  # carrier-grade NAT
        "127.0.0.0/8",
        "169.254.0.0/16",  # link-local, incl. the 169.254.169.254 metadata service
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",
        "::/128",
        "::1/128",
        "fc00::/7",  # unique local, incl. fd00:ec2::254 (EC2's IPv6 metadata service)
        "fe80::/10",
        "ff00::/8",
    )
]
_METADATA_ADDRESSES = {
    ipaddress.ip_address("169.254.169.254"),
    ipaddress.ip_address("fd00:ec2::254"),
    ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
}
_SIX_TO_FOUR = ipaddress.ip_network("2002::/16")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_REDIRECT_STATUSES = {301, 302, 303, 307, 308}
#: Headers the guard sets itself; a tool's configuration cannot override them.
_RESERVED_HEADERS = {"host", "content-length", "transfer-encoding", "connection"}


class EgressDenied(Exception):
    """The destination may not be reached; the message says which address and why."""

    reason = "EGRESS_DENIED"


class EgressFailed(Exception):
    """The destination could not be reached or answered unusably (too large, bad redirect)."""

    def __init__(self, message: str, reason: str = "EGRESS_FAILED") -> None:
        super().__init__(message)
        self.reason = reason


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 form carries: mapped (::ffff:a.b.c.d), compatible (::a.b.c.d),
    6to4 (2002:AABB:CCDD::) or NAT64 (64:ff9b::a.b.c.d)."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    packed = address.packed
    if packed[:12] == bytes(12) and int(address) > 1:
        return ipaddress.IPv4Address(packed[12:])
    if address in _SIX_TO_FOUR:
        return ipaddress.IPv4Address(packed[2:6])
    if address in _NAT64:
        return ipaddress.IPv4Address(packed[12:])
    return None


def refusal(address: IPAddress) -> str | None:
    """Why a tool may not reach ``address``, or None when it may."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id:
            return f"{address} is a scoped (link-local) address"
        inner = embedded_ipv4(address)
        if inner is not None:
            why = refusal(inner)
            return f"{address} embeds {inner}, and {why}" if why else None
    if address in _METADATA_ADDRESSES:
        return f"{address} is a cloud metadata address"
    for network in _REFUSED_NETWORKS:
        if address.version == network.version and address in network:
            return f"{address} is in the non-public range {network}"
    if not address.is_global:
        return f"{address} is not a public address"
    return None


async def system_resolver(host: str) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, None, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class EgressResponse:
    status_code: int
    headers: Mapping[str, str]
    body: bytes
    url: str

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()


class EgressGuard:
    def __init__(
        self,
        *,
        allowed_hosts: frozenset[str] = frozenset(),
        timeout_seconds: float = 30.0,
        max_response_bytes: int = 1024 * 1024,
        max_redirects: int = 5,
        resolver: Resolver = system_resolver,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._allowed = allowed_hosts
        self._timeout = timeout_seconds
        self._max_bytes = max_response_bytes
        self._max_redirects = max_redirects
        self._resolve = resolver
        # No environment (proxies, netrc, certificates bundles of the host) and no redirects:
        # every hop is decided here.
        self._client = httpx.AsyncClient(
            trust_env=False, follow_redirects=False, transport=transport, timeout=timeout_seconds
        )

    async def close(self) -> None:
        await self._client.aclose()

    def mcp_http_client(self, timeout_seconds: float) -> httpx2.AsyncClient:
        """An HTTP client for the MCP SDK whose every request goes through this guard."""
        return httpx2.AsyncClient(
            transport=PinnedTransport(self),
            trust_env=False,
            follow_redirects=False,
            timeout=min(timeout_seconds, self._timeout),
        )

    async def checked_address(self, host: str) -> str:
        """The one address of ``host`` to connect to, after every address it has was checked."""
        bare = host.strip("[]").lower()
        try:
            literal: IPAddress | None = ipaddress.ip_address(bare)
        except ValueError:
            literal = None
        if bare in self._allowed:
            return str(literal) if literal is not None else (await self._resolve_all(bare))[0]
        addresses = (
            [literal] if literal is not None else list(map(_parse, await self._resolve_all(bare)))
        )
        for address in addresses:
            if why := refusal(address):
                raise EgressDenied(f"{host!r} may not be reached: {why}")
        return str(addresses[0])

    async def _resolve_all(self, host: str) -> list[str]:
        try:
            addresses = await self._resolve(host)
        except OSError as exc:
            raise EgressFailed(f"{host!r} does not resolve: {exc}", "DNS_FAILED") from None
        if not addresses:
            raise EgressFailed(f"{host!r} does not resolve", "DNS_FAILED")
        return addresses

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        json_body: object = None,
        timeout_seconds: float | None = None,
    ) -> EgressResponse:
        """Send one request through the guard; raises EgressDenied, EgressFailed or
        TimeoutError (the whole exchange, redirects included, gets ``timeout_seconds``)."""
        limit = min(timeout_seconds or self._timeout, self._timeout)
        async with asyncio.timeout(limit):
            for _hop in range(self._max_redirects + 1):
                response = await self._send_once(method, url, headers or {}, json_body)
                location = response.headers.get("location")
                if response.status_code not in _REDIRECT_STATUSES or not location:
                    return response
                url = urljoin(url, location)
                if response.status_code == 303 or (
                    response.status_code in (301, 302) and method == "POST"
                ):
                    method, json_body = "GET", None
            raise EgressFailed(
                f"more than {self._max_redirects} redirects", reason="TOO_MANY_REDIRECTS"
            )

    async def _send_once(
        self, method: str, url: str, headers: Mapping[str, str], json_body: object
    ) -> EgressResponse:
        try:
            target = httpx.URL(url)
        except httpx.InvalidURL as exc:
            raise EgressFailed(f"{url!r} is not a valid URL: {exc}", "INVALID_URL") from None
        if target.scheme not in ("http", "https") or not target.host:
            raise EgressDenied(f"{url!r} is not an http or https URL")
        address = await self.checked_address(target.host)
        pinned = target.copy_with(host=address)
        host_header = target.host if target.port is None else f"{target.host}:{target.port}"
        if ":" in target.host and target.port is None:
            host_header = f"[{target.host}]"
        request = self._client.build_request(
            method,
            pinned,
            headers={
                **{k: v for k, v in headers.items() if k.lower() not in _RESERVED_HEADERS},
                "host": host_header,
            },
            json=json_body,
            extensions={"sni_hostname": target.host} if target.scheme == "https" else {},
        )
        try:
            response = await self._client.send(request, stream=True)
        except httpx.TimeoutException:
            raise TimeoutError(f"{target.host} did not answer in time") from None
        except httpx.HTTPError as exc:
            raise EgressFailed(f"{target.host} could not be reached: {exc}") from None
        try:
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > self._max_bytes:
                raise EgressFailed(
                    f"the response is {declared} bytes; at most {self._max_bytes} are read",
                    "RESPONSE_TOO_LARGE",
                )
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body.extend(chunk)
                if len(body) > self._max_bytes:
                    raise EgressFailed(
                        f"the response exceeds {self._max_bytes} bytes", "RESPONSE_TOO_LARGE"
                    )
        except httpx.TimeoutException:
            raise TimeoutError(f"{target.host} did not finish in time") from None
        except httpx.HTTPError as exc:
            raise EgressFailed(f"{target.host} broke off: {exc}") from None
        finally:
            await response.aclose()
        return EgressResponse(
            status_code=response.status_code,
            headers={k.lower(): v for k, v in response.headers.items()},
            body=bytes(body),
            url=str(target),
        )


class PinnedTransport(httpx2.AsyncBaseTransport):
    """An ``httpx2`` transport (the MCP SDK's HTTP client) that sends each request, redirects
    included, to the address the guard checked for its host, with the original Host header and
    TLS server name."""

    def __init__(self, guard: EgressGuard) -> None:
        self._guard = guard
        self._inner = httpx2.AsyncHTTPTransport(trust_env=False)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        url = request.url
        if url.scheme not in ("http", "https") or not url.host:
            raise EgressDenied(f"{str(url)!r} is not an http or https URL")
        address = await self._guard.checked_address(url.host)
        host = f"[{url.host}]" if ":" in url.host else url.host
        request.headers["host"] = host if url.port is None else f"{host}:{url.port}"
        if url.scheme == "https":
            request.extensions["sni_hostname"] = url.host
        request.url = url.copy_with(host=address)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def _parse(address: str) -> IPAddress:
    # getaddrinfo may answer a scoped IPv6 address ("fe80::1%eth0").
    bare, _, scope = address.partition("%")
    parsed = ipaddress.ip_address(bare)
    if scope and isinstance(parsed, ipaddress.IPv6Address):
        return ipaddress.IPv6Address(f"{bare}%{scope}")
    return parsed
