"""``http``: call an HTTP(S) endpoint and map the response into variables.

Normalised args (from ``definitions``)::

    {"method": "GET", "url": str, "headers": {}, "json": any | None, "body": str | None,
     "ca_bundle": str | None, "verify": bool, "into": {var: expr}, "expect": [int] | None}

Decisions:

- ``url``, ``headers``, ``json`` and ``body`` are templates rendered against the scope.
  ``json`` is serialised here (Decimal -> number, datetime -> ISO string) and sent with
  ``Content-Type: application/json`` unless a header sets another one.
- ``ca_bundle`` (a PEM file; relative paths are resolved against the node's data dir)
  replaces the default trust store; otherwise ``verify`` (default true) uses the system
  bundle. A certificate that fails verification is not retryable (it is configuration).
- Redirects are followed, except when ``expect`` lists a 3xx status (then the caller wants
  to see the redirect itself).
- The whole call (connect, send, read) is bounded by ``ctx.effective_timeout()``; responses
  larger than ``MAX_RESPONSE_BYTES`` fail (not retryable) rather than fill memory.
- ``into`` expressions see ``response`` = {"status", "headers", "text", "json"} (``json`` is
  the parsed body, or None when the body is not JSON). Header names are lower case.
- A status outside ``expect`` (default: any 2xx) fails: retryable for 5xx and 429.
- One log line per call: method, URL without query string or credentials, status, elapsed.
  Headers and bodies are never logged; secret values are masked anyway.
"""

from __future__ import annotations

import asyncio
import json
import re
import ssl
import time
from collections.abc import Mapping
from datetime import date, datetime
from datetime import time as dtime
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

import httpx
from switchyard.engine.actions.base import (
    ActionContext,
    ActionFailed,
    Done,
    RanToItsEnd,
    log_done,
)
from switchyard.engine.people.masking import TextMasker as Masker

METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"})
MAX_RESPONSE_BYTES = 16 * 1024 * 1024
MAX_REDIRECTS = 10


def safe_url(url: str) -> str:
    """``url`` without query string, fragment or user:password (for messages and logs)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid url>"
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


_QUOTED = re.compile(r"'[^'\n]*'|\"[^\"\n]*\"")


def _unquoted(message: str, keep: str) -> str:
    """``message`` with the quoted parts ``keep`` does not hold cut: httpx and h11 quote
    what they refused (``Illegal header value b' ATTACK…'``), and a header may carry a
    secured value or a part of one that the masker cannot know."""
    return _QUOTED.sub(lambda m: m.group(0) if m.group(0)[1:-1] in keep else "…", message)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        if not value.is_finite():
            return str(value)
        if value == value.to_integral_value():
            return int(value)
        as_float = float(value)
        return as_float if Decimal(repr(as_float)) == value else str(value)
    if isinstance(value, datetime | date | dtime):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _dumps(value: Any) -> bytes:
    try:
        return json.dumps(value, default=_json_default, allow_nan=False).encode()
    except ValueError as exc:  # NaN / infinity, circular structures
        raise ActionFailed(f"http: json body cannot be encoded: {exc}", retryable=False) from exc


def _verify(args: Mapping[str, Any], ctx: ActionContext) -> ssl.SSLContext | bool:
    bundle = args.get("ca_bundle")
    if bundle:
        path = Path(str(ctx.render(bundle))).expanduser()
        if not path.is_absolute():
            path = ctx.data_dir / path
        try:
            return ssl.create_default_context(cafile=str(path))
        except (OSError, ssl.SSLError) as exc:
            raise ActionFailed(
                f"http: cannot load ca_bundle {path}: {exc}", retryable=False
            ) from exc
    return bool(args.get("verify", True))


def _headers(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ActionFailed("http: headers must be a mapping", retryable=False)
    return {str(k): str(v) for k, v in value.items() if v is not None}


def _status_ok(status: int, expect: list[int] | None) -> bool:
    return status in expect if expect else 200 <= status < 300


def _is_cert_error(exc: BaseException) -> bool:
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, ssl.SSLCertVerificationError):
            return True
        cur = cur.__cause__ or cur.__context__
    return "CERTIFICATE_VERIFY_FAILED" in str(exc)


def _parse_json(raw: bytes) -> Any:
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


class _Answered(asyncio.CancelledError):
    """``_call`` stopped after the answer had come (its connection still closing)."""

    def __init__(self, answer: tuple[int, dict[str, str], bytes, str | None]) -> None:
        super().__init__("stopped after the answer had come")
        self.answer = answer


class HttpAction:
    kind: ClassVar[str] = "http"
    side_effects: ClassVar[bool] = True

    async def execute(self, args: dict[str, Any], ctx: ActionContext) -> Done:
        method = str(args.get("method") or "GET").upper()
        if method not in METHODS:
            raise ActionFailed(f"http: unsupported method {method}", retryable=False)
        url = str(ctx.render(args["url"]))
        # messages name the URL as written in the definition (templates unrendered), so a
        # variable's value never reaches the journal or the history through an error
        shown = safe_url(str(args["url"]))
        logged = safe_url(url)  # the instance log names the real address (secrets masked)
        headers = _headers(ctx.render(args.get("headers") or {}))
        content = self._content(args, ctx, headers)
        expect = [int(s) for s in args["expect"]] if args.get("expect") else None
        follow = not (expect and any(300 <= s < 400 for s in expect))
        timeout = ctx.effective_timeout()
        masker = Masker(ctx.secrets.values())

        started = time.monotonic()
        try:
            status, resp_headers, raw, encoding = await self._call(
                method, url, headers, content, _verify(args, ctx), timeout, follow, shown
            )
        except _Answered as answered:  # stopped after the answer had come
            try:
                done = self._done(args, ctx, *answered.answer)
            except ActionFailed:
                raise asyncio.CancelledError from None  # a failed request: stopped, as any
            raise RanToItsEnd(done) from None
        except ActionFailed as exc:
            message = masker.mask(_unquoted(exc.message, str(args["url"])))
            await ctx.log([f"http {masker.mask(f'{method} {logged}')} -> failed: {message}"])
            raise ActionFailed(message, retryable=exc.retryable) from exc.__cause__
        elapsed = time.monotonic() - started
        line = masker.mask(f"http {method} {logged} -> {status} in {elapsed:.3f}s")
        try:
            done = self._done(args, ctx, status, resp_headers, raw, encoding)
        except ActionFailed:
            await ctx.log([line])
            raise
        return await log_done(ctx, [line], done)

    @staticmethod
    def _done(
        args: Mapping[str, Any],
        ctx: ActionContext,
        status: int,
        resp_headers: dict[str, str],
        raw: bytes,
        encoding: str | None,
    ) -> Done:
        """The answer as the step's result (ActionFailed when it is not the expected one)."""
        method = str(args.get("method") or "GET").upper()
        expect = [int(s) for s in args["expect"]] if args.get("expect") else None
        if not _status_ok(status, expect):
            retryable = status >= 500 or status == 429
            masker = Masker(ctx.secrets.values())
            message = masker.mask(f"HTTP {status} from {method} {safe_url(str(args['url']))}")
            raise ActionFailed(message, retryable=retryable)

        response = {
            "status": status,
            "headers": resp_headers,
            "text": raw.decode(encoding or "utf-8", "replace"),
            "json": _parse_json(raw),
        }
        updates: dict[str, Any] = {}
        for var, expr in (args.get("into") or {}).items():
            try:
                updates[var] = ctx.evaluator.evaluate(expr, {**ctx.scope, "response": response})
            except ActionFailed:
                raise
            except Exception as exc:
                raise ActionFailed(f"http: into.{var}: {exc}", retryable=False) from exc
        return Done(updates=updates, note=f"HTTP {status}")

    @staticmethod
    def _content(
        args: Mapping[str, Any], ctx: ActionContext, headers: dict[str, str]
    ) -> bytes | None:
        has_json = args.get("json") is not None
        has_body = args.get("body") is not None
        if has_json and has_body:
            raise ActionFailed("http: give either json or body, not both", retryable=False)
        if has_json:
            if not any(k.lower() == "content-type" for k in headers):
                headers["Content-Type"] = "application/json"
            return _dumps(ctx.render(args["json"]))
        if has_body:
            body = ctx.render(args["body"])
            if isinstance(body, bytes):
                return body
            return (body if isinstance(body, str) else _dumps(body).decode()).encode()
        return None

    @staticmethod
    async def _call(
        method: str,
        url: str,
        headers: dict[str, str],
        content: bytes | None,
        verify: ssl.SSLContext | bool,
        budget: float | None,
        follow: bool,
        where: str,
    ) -> tuple[int, dict[str, str], bytes, str | None]:
        shown = f"{method} {where}"
        answer: tuple[int, dict[str, str], bytes, str | None] | None = None
        try:
            async with asyncio.timeout(budget):
                async with httpx.AsyncClient(
                    verify=verify,
                    timeout=httpx.Timeout(budget),
                    follow_redirects=follow,
                    max_redirects=MAX_REDIRECTS,
                ) as client:
                    request = client.build_request(method, url, headers=headers, content=content)
                    r = await client.send(request, stream=True)
                    try:
                        chunks: list[bytes] = []
                        size = 0
                        async for chunk in r.aiter_bytes():
                            size += len(chunk)
                            if size > MAX_RESPONSE_BYTES:
                                raise ActionFailed(
                                    f"response to {shown} exceeds {MAX_RESPONSE_BYTES} bytes",
                                    retryable=False,
                                )
                            chunks.append(chunk)
                        answer = r.status_code, dict(r.headers), b"".join(chunks), r.encoding
                    finally:
                        await r.aclose()
                    return answer
        except asyncio.CancelledError:
            if answer is not None:  # answered: only closing the connection was left
                raise _Answered(answer) from None
            raise
        except ActionFailed:
            raise
        except (TimeoutError, httpx.TimeoutException) as exc:
            limit = "" if budget is None else f" after {budget:g}s"
            raise ActionFailed(f"{shown} timed out{limit}") from exc
        except httpx.TooManyRedirects as exc:
            raise ActionFailed(f"{shown}: too many redirects", retryable=False) from exc
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
            raise ActionFailed(f"{shown}: invalid URL: {exc}", retryable=False) from exc
        except httpx.TransportError as exc:
            if _is_cert_error(exc):
                raise ActionFailed(
                    f"{shown}: TLS certificate verification failed: {exc}", retryable=False
                ) from exc
            reason = str(exc) or type(exc).__name__
            raise ActionFailed(f"{shown} failed: {reason}") from exc
        except (httpx.HTTPError, ValueError, TypeError) as exc:
            raise ActionFailed(f"{shown}: {exc}", retryable=False) from exc
