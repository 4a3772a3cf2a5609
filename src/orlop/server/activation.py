"""Activation tokens: how an account JWT's private export lets one importing account in.

An export with ``token_req`` (``nsc add export --private``) is imported only with an
activation token: a JWT the exporter (or one of its signing keys, naming the exporter in
``issuer_account``) signs for the importing account, carrying the subject and kind it
grants (``nsc generate activation``). The importer's JWT carries it in the import's
``token``. Checked in two steps, as nats-server does:

- with the importer's account JWT (jwt's Import.Validate): the token decodes, is the
  exporter's, is for this account, of the import's kind, and covers the import's subject.
  A token that fails makes the whole account JWT invalid (its users are refused);
- when the import is wired (accounts.go checkActivation): a signing key that issued it is
  one of the exporter's, it has not expired (the import goes when it does), and the
  export's ``revocations`` do not revoke it, and it is in its time (``nbf``, ``exp``).
"""

from __future__ import annotations

import time
from collections.abc import Collection

from orlop.server.jwt import Claims, JwtError, decode
from orlop.server.options import Export, Import
from orlop.subjects import is_subset

__all__ = ["check_activation", "token_problem"]


def _decode(imp: Import) -> Claims | str:
    try:
        return decode(imp.token, "activation")
    except JwtError as exc:
        return f"import {imp.subject!r} contains an invalid activation token: {exc}"


def token_problem(imp: Import, account: str) -> str:
    """What makes ``imp.token`` invalid in account ``account``'s JWT ("" when nothing)."""
    act = _decode(imp)
    if isinstance(act, str):
        return act
    if imp.account not in (act.issuer, act.nats.get("issuer_account")):
        return f"activation token doesn't match account for import {imp.subject!r}"
    if act.subject != account:
        return f"activation token doesn't match account it is being included in, {imp.subject!r}"
    if act.nats.get("kind") != imp.kind:
        return f"mismatch between token import type {act.nats.get('kind')} and type of import {imp.kind}"
    granted = str(act.nats.get("subject") or "")
    if not granted or not (imp.subject == granted or is_subset(imp.subject, granted)):
        return f"activation token import subject {granted!r} doesn't match import {imp.subject!r}"
    return ""


def check_activation(
    imp: Import, export: Export, exporter: str, signing_keys: Collection[str]
) -> tuple[str, int]:
    """``("", expires)`` when ``imp.token`` (already valid in the importer's JWT) lets the
    import of ``export`` from ``exporter`` be wired now (``expires``: unix seconds, 0
    never); ``(why not, 0)`` otherwise."""
    if not imp.token:
        return f"import {imp.subject!r} needs an activation token", 0
    act = _decode(imp)
    if isinstance(act, str):
        return act, 0
    issuer_account = act.nats.get("issuer_account")
    if issuer_account and (issuer_account != exporter or act.issuer not in signing_keys):
        return f"activation token for import {imp.subject!r} is not signed by account {exporter}", 0
    now = time.time()
    if act.expires and act.expires <= now:
        return f"activation token for import {imp.subject!r} has expired", 0
    if act.premature(now):
        return f"activation token for import {imp.subject!r} is not valid yet", 0
    for who, at in export.revocations:
        if who in (act.subject, "*") and (act.issued_at == 0 or at >= act.issued_at):
            return f"activation token for import {imp.subject!r} was revoked", 0
    return "", act.expires
