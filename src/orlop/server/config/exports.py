"""An account's ``exports`` and ``imports``: subjects shared between accounts, as nats-server has them.

Exports: ``{stream: "S", accounts: [...]}`` (messages published on S in this account are
delivered to importers) and ``{service: "S", accounts: [...], response: singleton|stream|
chunked, threshold: "2m"}`` (importers' requests on S are served here and the answers go
back). Without ``accounts`` (or with an empty list) an export is public.
``account_token_position: N`` requires token N of an import's subject to be the importer's
name. Imports: ``{stream: {account, subject}, prefix | to}`` and ``{service: {account,
subject}, to, share}``.

Checked when the file is read, with nats-server's words (opts.go parseAccounts): an import
from an account that is not defined, or of a subject the exporter does not export to the
importer, is an error, not a silently dead import. Orlop refuses what it does not do:
service ``latency`` tracking and ``allow_trace``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orlop.errors import ConfigError
from orlop.server.config.values import as_int, as_str, parse_duration, where
from orlop.server.options import Export, Import
from orlop.subjects import has_wildcard, is_subset, is_valid_subject

__all__ = ["check_imports", "parse_exports", "parse_imports"]

_RESPONSE = {"single": "singleton", "singleton": "singleton", "stream": "stream", "chunk": "chunked",
             "chunked": "chunked"}  # fmt: skip
_THRESHOLD = ("threshold", "response_threshold", "response_max_time", "response_time")


def _entries(entry: Mapping[str, Any], key: str, what: str) -> list[Mapping[str, Any]]:
    """The list of maps under ``key`` (``what``: "Export" or "Import", as nats-server words it)."""
    items = entry[key]
    if not isinstance(items, list):
        raise ConfigError(f"{where(entry, key)}: {what}s should be an array, got {type(items).__name__}")
    for item in items:
        if not isinstance(item, Mapping):
            raise ConfigError(
                f"{where(entry, key)}: {what} Items should be a map with type entry,"
                f" got {type(item).__name__}"
            )
    return items


def parse_exports(entry: Mapping[str, Any], key: str) -> list[tuple[Export, str]]:
    """The exports of one account, each with where it was written (for later errors)."""
    return [(_export(item), where(entry, key)) for item in _entries(entry, key, "Export")]


def _export(item: Mapping[str, Any]) -> Export:
    kind = subject = ""
    accounts: tuple[str, ...] = ()
    response = ""
    threshold = 120.0
    position = 0
    for field in item:
        low = field.lower()
        if low in ("stream", "service"):
            if kind:
                raise ConfigError(
                    f'{where(item, field)}: Detected {low} "{item[field]}" but already saw a {kind}'
                )
            if not isinstance(item[field], str):
                raise ConfigError(
                    f"{where(item, field)}: Expected {low} name to be string,"
                    f" got {type(item[field]).__name__}"
                )
            kind, subject = low, item[field]
        elif low == "accounts":
            names = item[field]
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise ConfigError(f"{where(item, field)}: accounts: expected a list of account names")
            accounts = tuple(names)
        elif low in ("response", "response_type"):
            value = str(item[field]).lower()
            if value not in _RESPONSE:
                raise ConfigError(f'{where(item, field)}: Unknown response type: "{item[field]}"')
            response = _RESPONSE[value]
        elif low in _THRESHOLD:
            value = item[field]
            try:
                threshold = parse_duration(value) if isinstance(value, str) else -1.0
            except ValueError:
                threshold = -1.0
            if threshold <= 0:
                raise ConfigError(
                    f"{where(item, field)}: Expected response threshold to be a parseable time duration,"
                    f" got {value!r}"
                )
        elif low == "account_token_position":
            position = as_int(item, field)
        elif low in ("latency", "allow_trace"):
            raise ConfigError(
                f"{where(item, field)}: export {field} is not supported by Orlop; refusing to start"
                " without what it configures"
            )
        else:
            raise ConfigError(f'{where(item, field)}: unknown field "{field}"')
    if not kind:
        raise ConfigError(
            f"{where(item, next(iter(item), ''))}: an export needs a stream or a service subject"
        )
    if response and kind == "stream":
        raise ConfigError(f"{where(item, 'response')}: Detected response directive on non-service")
    if not is_valid_subject(subject):
        raise ConfigError(f'{where(item, kind)}: Error adding {kind} export "{subject}": invalid subject')
    if position:
        toks = subject.split(".")
        if not 0 < position <= len(toks) or toks[position - 1] != "*":
            raise ConfigError(f'{where(item, kind)}: Error adding {kind} export "{subject}": invalid subject')
    return Export(kind, subject, accounts, response or "singleton", threshold, position)


def parse_imports(entry: Mapping[str, Any], key: str) -> list[tuple[Import, str]]:
    """The imports of one account, each with where it was written."""
    return [(_import(item), where(entry, key)) for item in _entries(entry, key, "Import")]


def _import(item: Mapping[str, Any]) -> Import:
    kind = account = subject = to = prefix = ""
    share = False
    for field in item:
        low = field.lower()
        if low in ("stream", "service"):
            source = item[field]
            if not isinstance(source, Mapping):
                raise ConfigError(
                    f"{where(item, field)}: {low.capitalize()} entry should be an account map,"
                    f" got {type(source).__name__}"
                )
            kind = low
            for sub in source:
                if sub.lower() == "account":
                    account = as_str(source, sub)
                elif sub.lower() == "subject":
                    subject = as_str(source, sub)
                else:
                    raise ConfigError(f'{where(source, sub)}: unknown field "{sub}"')
            if not account or not subject:
                raise ConfigError(f"{where(item, field)}: Expect an account name and a subject")
        elif low == "prefix":
            prefix = as_str(item, field)
        elif low == "to":
            to = as_str(item, field)
        elif low == "share":
            value = item[field]
            if not isinstance(value, bool):
                raise ConfigError(f"{where(item, field)}: share: expected true or false")
            share = value
        elif low == "allow_trace":
            raise ConfigError(
                f"{where(item, field)}: import allow_trace is not supported by Orlop; refusing to start"
                " without what it configures"
            )
        else:
            raise ConfigError(f'{where(item, field)}: unknown field "{field}"')
    if not kind:
        raise ConfigError(f"{where(item, next(iter(item), ''))}: an import needs a stream or a service entry")
    if kind == "stream" and prefix and to:
        raise ConfigError(f"{where(item, 'to')}: Stream import can not have a 'prefix' and a 'to' property")
    if kind == "service" and prefix:
        raise ConfigError(f'{where(item, "prefix")}: unknown field "prefix"')
    return Import(kind, account, subject, to, prefix, share)


def check_imports(
    known: set[str],
    exports: Mapping[str, list[tuple[Export, str]]],
    imports: Mapping[str, list[tuple[Import, str]]],
) -> None:
    """Every export names defined accounts; every import is of something exported to its account."""
    for items in exports.values():
        for e, at in items:
            for other in e.accounts:
                if other not in known:
                    raise ConfigError(f'{at}: "{other}" account not defined for {e.kind} export')
    for name, wanted in imports.items():
        seen_local: dict[str, Import] = {}
        for i, at in wanted:
            label = f'Error adding {i.kind} import "{i.subject}"'
            if i.account not in known:
                raise ConfigError(f'{at}: "{i.account}" account not defined for {i.kind} import')
            if not is_valid_subject(i.subject):
                raise ConfigError(f"{at}: {label}: sublist: invalid subject")
            if not any(_authorizes(e, i, name) for e, _ in exports.get(i.account, ())):
                raise ConfigError(f"{at}: {label}: {i.kind} import not authorized")
            if i.prefix and has_wildcard(i.prefix):
                raise ConfigError(f"{at}: {label}: stream import prefix can not contain wildcard tokens")
            if i.to and not (is_valid_subject(i.to) and _maps(i)):
                raise ConfigError(
                    f'{at}: failed to create mapping transform for {i.kind} import subject from "{i.to}"'
                    f' to "{i.subject}"'
                )
            if i.kind == "service":
                local = i.to or i.subject
                before = seen_local.get(local)
                if before is not None and before.account == i.account:
                    raise ConfigError(
                        f'{at}: Duplicate service import subject "{local}", previously used in import for'
                        f' account "{before.account}", subject "{before.subject}"'
                    )
                seen_local[local] = i
            if i.kind == "stream" and i.account == name:
                raise ConfigError(f"{at}: {label}: import forms a cycle")


def _authorizes(e: Export, i: Import, importer: str) -> bool:
    if e.kind != i.kind or not (e.subject == i.subject or is_subset(i.subject, e.subject)):
        return False
    if e.token_position:
        toks = i.subject.split(".")
        return len(toks) >= e.token_position and toks[e.token_position - 1] == importer
    return not e.accounts or importer in e.accounts


def _maps(i: Import) -> bool:
    """Whether ``to`` is a mapping Orlop can apply (see orlop.server.imports)."""
    from orlop.jsapi.subject_transform import SubjectTransform

    if not has_wildcard(i.subject) or i.to == i.subject:
        return not has_wildcard(i.to) if not has_wildcard(i.subject) else True
    src, dest = (i.to, i.subject) if i.kind == "service" else (i.subject, i.to)
    try:
        SubjectTransform(src, dest)
    except ValueError:
        return False
    return True
