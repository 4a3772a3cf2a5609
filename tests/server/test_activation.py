"""Activation tokens case by case (orlop.server.activation); the servers' behaviour, on
Orlop and nats-server alike, is test_operator_mode.py's test_private_exports_need_activation_tokens."""

from __future__ import annotations

import time

import nkeys
from tests.natsjwt import Identity

from orlop.server.activation import check_activation, token_problem
from orlop.server.options import Export, Import

EXPORTER = Identity.new(nkeys.PREFIX_BYTE_ACCOUNT)
SIGNER = Identity.new(nkeys.PREFIX_BYTE_ACCOUNT)  # one of the exporter's signing keys
IMPORTER = Identity.new(nkeys.PREFIX_BYTE_ACCOUNT)
EXPORT = Export("stream", "feed.>", token_req=True)


def _import(
    signer: Identity = EXPORTER,
    *,
    subject: str = "feed.>",
    kind: str = "stream",
    issuer_account: str = "",
    exp: int = 0,
    nbf: int = 0,
) -> Import:
    """A stream import of ``feed.news`` carrying an activation token with these claims."""
    nats = {"type": "activation", "version": 2, "subject": subject, "kind": kind}
    if issuer_account:
        nats["issuer_account"] = issuer_account
    token = signer.sign_jwt(IMPORTER.public, "act", nats, exp=exp, nbf=nbf)
    return Import("stream", EXPORTER.public, "feed.news", token=token)


def _check(imp: Import, export: Export = EXPORT) -> str:
    return check_activation(imp, export, EXPORTER.public, {SIGNER.public})[0]


def test_a_good_token_and_what_makes_the_account_jwt_invalid() -> None:
    assert token_problem(_import(), IMPORTER.public) == "" and _check(_import()) == ""
    assert "being included in" in token_problem(_import(), EXPORTER.public)  # made out to another account
    assert "type" in token_problem(_import(kind="service"), IMPORTER.public)
    assert "doesn't match import" in token_problem(_import(subject="other.>"), IMPORTER.public)
    stranger = Identity.new(nkeys.PREFIX_BYTE_ACCOUNT)
    assert "doesn't match account" in token_problem(_import(stranger), IMPORTER.public)
    assert "invalid activation token" in token_problem(Import("stream", "A", "x", token="eyJ.x.y"), "B")


def test_signing_keys_expiry_not_before_and_revocations() -> None:
    by_key = _import(SIGNER, issuer_account=EXPORTER.public)
    assert token_problem(by_key, IMPORTER.public) == "" and _check(by_key) == ""
    rogue = Identity.new(nkeys.PREFIX_BYTE_ACCOUNT)  # claims to act for the exporter, is not its key
    assert "not signed by" in _check(_import(rogue, issuer_account=EXPORTER.public))
    now = int(time.time())
    assert "expired" in _check(_import(exp=now - 1))
    assert check_activation(_import(exp=now + 60), EXPORT, EXPORTER.public, ())[1] == now + 60
    assert "not valid yet" in _check(_import(nbf=now + 60))
    for who in (IMPORTER.public, "*"):
        revoking = Export("stream", "feed.>", token_req=True, revocations=((who, now + 60),))
        assert "revoked" in _check(_import(), revoking), who
    earlier = Export("stream", "feed.>", token_req=True, revocations=((IMPORTER.public, now - 3600),))
    assert _check(_import(), earlier) == ""  # revoked before this token was issued: it stands
    assert "needs an activation token" in _check(Import("stream", EXPORTER.public, "feed.news"))
