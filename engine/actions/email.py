"""``email``: send a plain-text mail, with attachments, through the node's SMTP server.

Normalised args (from ``definitions``)::

    {"to": [str], "cc": [str], "subject": str, "body": str, "attachments": [path],
     "from": str | None}

SMTP settings come from the node's ``config.toml`` ``[smtp]`` table: ``host`` (localhost),
``port`` (25), ``starttls`` (false), ``username``, ``password_secret`` (the NAME of a
secret holding the password) and ``from`` (the default sender).

Decisions:

- ``to``, ``cc``, ``subject``, ``body``, ``from`` and attachment paths are templates. A
  rendered recipient may be a list or one string with several addresses
  (``"Ann <a@x>, b@y"``).
- A relative attachment path is resolved against ``<data_dir>/files/<instance_id>`` where
  earlier actions leave their files; a missing file fails (not retryable) naming the path.
- No sender (neither ``from:`` nor ``[smtp] from``), no recipients, a malformed address or
  a missing password secret are definition/configuration errors: not retryable.
- Connection problems, timeouts and 4xx SMTP replies are retryable; 5xx replies and
  authentication failures are not.
- If the server refuses some (not all) recipients the mail is still sent; the refused
  addresses are logged and named in the note.
- Secrets and the values of secured variables (``security:``) are masked as ``****`` in
  the subject and body: mail goes outside Switchyard, where no recipient can be shown to
  be inside the variable's security spec.
- The whole exchange is bounded by ``ctx.effective_timeout()``. The log line names the
  server, the recipients and the attachment count, never the subject or body.
"""

from __future__ import annotations

import asyncio
import mimetypes
import time
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import formatdate, getaddresses, make_msgid
from pathlib import Path
from typing import Any, ClassVar

import aiosmtplib
from switchyard.engine.actions.base import ActionContext, ActionFailed, Done, log_done
from switchyard.engine.people.masking import TextMasker as Masker


def _flatten(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [s for item in value for s in _flatten(item)]
    text = str(value).strip()
    return [text] if text else []


def _addresses(field: str, value: Any) -> tuple[list[str], list[str]]:
    """-> (header entries, bare addresses) of a rendered recipient field."""
    entries = _flatten(value)
    for entry in entries:
        if "\n" in entry or "\r" in entry:
            raise ActionFailed(f"email: {field} contains a line break", retryable=False)
    bare: list[str] = []
    for name, addr in getaddresses(entries):
        if not addr or "@" not in addr or " " in addr:
            shown = f"{name} <{addr}>" if name else addr or "(empty)"
            raise ActionFailed(f"email: {field}: '{shown}' is not an address", retryable=False)
        bare.append(addr)
    return entries, bare


def _attachment_paths(value: Any, base: Path) -> list[Path]:
    paths: list[Path] = []
    for item in _flatten(value):
        path = Path(item).expanduser()
        paths.append(path if path.is_absolute() else base / path)
    return paths


def _read(path: Path) -> bytes:
    if not path.is_file():
        raise ActionFailed(f"email: attachment not found: {path}", retryable=False)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ActionFailed(f"email: cannot read attachment {path}: {exc}", retryable=False) from exc


def _smtp_failure(exc: aiosmtplib.SMTPException, where: str) -> ActionFailed:
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return ActionFailed(f"SMTP login to {where} refused: {exc}", retryable=False)
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        retryable = bool(codes) and all(400 <= c < 500 for c in codes)
        refused = ", ".join(f"{r.recipient} ({r.code})" for r in exc.recipients)
        return ActionFailed(f"SMTP {where} refused every recipient: {refused}", retryable=retryable)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        retryable = 400 <= exc.code < 500
        return ActionFailed(f"SMTP {where} replied {exc.code}: {exc.message}", retryable=retryable)
    if isinstance(exc, aiosmtplib.SMTPTimeoutError | aiosmtplib.SMTPConnectTimeoutError):
        return ActionFailed(f"SMTP {where} timed out: {exc}")
    if isinstance(exc, aiosmtplib.SMTPConnectError):
        return ActionFailed(f"cannot connect to SMTP server {where}: {exc}")
    return ActionFailed(f"SMTP {where} failed: {exc}")


class EmailAction:
    kind: ClassVar[str] = "email"
    side_effects: ClassVar[bool] = True

    async def execute(self, args: dict[str, Any], ctx: ActionContext) -> Done:
        smtp: Mapping[str, Any] = ctx.config.get("smtp") or {}
        host = str(smtp.get("host") or "localhost")
        port = int(smtp.get("port") or 25)
        where = f"{host}:{port}"
        username = smtp.get("username") or None
        password = self._password(smtp, ctx, username)
        # secured variables' values too: a mail leaves Switchyard, and no address can be
        # shown to belong to a member of the variable's security spec
        masker = Masker([*ctx.secrets.values(), *ctx.extra.get("mask_values", ())])

        sender = ctx.render(args.get("from")) if args.get("from") else smtp.get("from")
        if not sender:
            raise ActionFailed("email: no sender: set from: or [smtp] from", retryable=False)
        from_entries, from_bare = _addresses("from", sender)
        if len(from_bare) != 1:
            raise ActionFailed("email: from must be exactly one address", retryable=False)
        to_entries, to_bare = _addresses("to", ctx.render(args.get("to")))
        cc_entries, cc_bare = _addresses("cc", ctx.render(args.get("cc")))
        recipients = list(dict.fromkeys([*to_bare, *cc_bare]))
        if not recipients:
            raise ActionFailed("email: no recipients (to/cc are empty)", retryable=False)

        base = ctx.data_dir / "files" / str(ctx.instance_id)
        paths = _attachment_paths(ctx.render(args.get("attachments")), base)
        contents = [await asyncio.to_thread(_read, path) for path in paths]

        msg = EmailMessage()
        try:
            msg["From"] = from_entries[0]
            if to_entries:
                msg["To"] = ", ".join(to_entries)
            if cc_entries:
                msg["Cc"] = ", ".join(cc_entries)
            msg["Subject"] = masker.mask(str(ctx.render(args.get("subject") or "")))
            msg["Date"] = formatdate(localtime=True)
            msg["Message-ID"] = make_msgid("switchyard", domain=from_bare[0].rsplit("@", 1)[1])
            msg.set_content(masker.mask(str(ctx.render(args.get("body") or ""))))
            for path, data in zip(paths, contents, strict=True):
                ctype, encoding = mimetypes.guess_type(path.name)
                if ctype is None or encoding is not None:
                    ctype = "application/octet-stream"
                maintype, subtype = ctype.split("/", 1)
                msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=path.name)
        except (ValueError, TypeError) as exc:  # e.g. a line break in the subject
            raise ActionFailed(f"email: cannot build the message: {exc}", retryable=False) from exc

        timeout = ctx.effective_timeout()
        shown = f"email via {where} to {', '.join(recipients)} ({len(paths)} attachment(s))"
        started = time.monotonic()
        try:
            async with asyncio.timeout(timeout):
                refused, _reply = await aiosmtplib.send(
                    msg,
                    sender=from_bare[0],
                    recipients=recipients,
                    hostname=host,
                    port=port,
                    username=username,
                    password=password,
                    start_tls=bool(smtp.get("starttls", False)),
                    timeout=timeout,
                )
        except (TimeoutError, aiosmtplib.SMTPException, OSError) as exc:
            if isinstance(exc, aiosmtplib.SMTPException):
                failure = _smtp_failure(exc, where)
            elif isinstance(exc, TimeoutError):
                limit = "" if timeout is None else f" after {timeout:g}s"
                failure = ActionFailed(f"SMTP {where} timed out{limit}")
            else:
                failure = ActionFailed(f"cannot connect to SMTP server {where}: {exc}")
            await ctx.log([masker.mask(f"{shown} -> failed: {failure.message}")])
            raise ActionFailed(masker.mask(failure.message), retryable=failure.retryable) from exc
        elapsed = time.monotonic() - started
        note = f"sent to {len(recipients) - len(refused)} recipient(s)"
        lines = [f"{shown} -> sent in {elapsed:.3f}s"]
        if refused:
            names = ", ".join(sorted(refused))
            note += f"; refused: {names}"
            lines.append(f"email: the server refused {names}")
        return await log_done(ctx, [masker.mask(line) for line in lines], Done(note=note))

    @staticmethod
    def _password(smtp: Mapping[str, Any], ctx: ActionContext, username: str | None) -> str | None:
        key = smtp.get("password_secret")
        if not key:
            if username:
                raise ActionFailed(
                    "email: [smtp] username is set but password_secret is not", retryable=False
                )
            return None
        password = ctx.secrets.get(str(key))
        if password is None:
            raise ActionFailed(f"email: SMTP password secret '{key}' is not set", retryable=False)
        return password
