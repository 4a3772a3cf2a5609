"""What a client's TLS certificate says about it: its key's pin and the names it maps to a user.

nats-server's ``pinned_certs`` pin the SHA-256 of the certificate's DER-encoded
SubjectPublicKeyInfo, written in hex; ``verify_and_map`` finds the user a certificate
stands for by trying, in order, its e-mail SANs, its DNS SANs, its URI SANs, and then its
subject as a distinguished name (auth.go checkClientTLSCertSubject). A user named by a DN
(``"CN=bob,OU=eng,O=Acme"``) matches a subject with the same attributes, in any order.
Certificates are read with the ``cryptography`` package.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

__all__ = ["PeerCert", "parse_dn"]

# Attribute names as Go's pkix package writes them; others are written as dotted OIDs.
_SHORT = {
    NameOID.COMMON_NAME: "CN",
    NameOID.ORGANIZATION_NAME: "O",
    NameOID.ORGANIZATIONAL_UNIT_NAME: "OU",
    NameOID.COUNTRY_NAME: "C",
    NameOID.LOCALITY_NAME: "L",
    NameOID.STATE_OR_PROVINCE_NAME: "ST",
    NameOID.STREET_ADDRESS: "STREET",
    NameOID.POSTAL_CODE: "POSTALCODE",
    NameOID.SERIAL_NUMBER: "SERIALNUMBER",
    NameOID.DOMAIN_COMPONENT: "DC",
    NameOID.USER_ID: "UID",
}
_ALIASES = {
    "EMAILADDRESS": NameOID.EMAIL_ADDRESS.dotted_string,
    "E": NameOID.EMAIL_ADDRESS.dotted_string,
    "S": "ST",
}


@dataclass(frozen=True, slots=True)
class PeerCert:
    """The parts of a client certificate that authentication looks at."""

    key_pin: str  # hex SHA-256 of the DER SubjectPublicKeyInfo
    emails: tuple[str, ...] = ()
    dns_names: tuple[str, ...] = ()
    uris: tuple[str, ...] = ()
    subject: str = ""  # RFC 4514 text, most specific attribute first
    subject_attrs: tuple[tuple[str, str], ...] = field(default=())

    @classmethod
    def from_der(cls, der: bytes) -> PeerCert:
        cert = x509.load_der_x509_certificate(der)
        spki = cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        emails: list[str] = []
        dns: list[str] = []
        uris: list[str] = []
        try:
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except x509.ExtensionNotFound:
            pass
        else:
            emails = [str(v) for v in san.get_values_for_type(x509.RFC822Name)]
            dns = [str(v) for v in san.get_values_for_type(x509.DNSName)]
            uris = [str(v) for v in san.get_values_for_type(x509.UniformResourceIdentifier)]
        attrs = tuple(
            (_SHORT.get(a.oid, a.oid.dotted_string), a.value if isinstance(a.value, str) else a.value.hex())
            for a in cert.subject
        )
        return cls(
            key_pin=hashlib.sha256(spki).hexdigest(),
            emails=tuple(emails),
            dns_names=tuple(dns),
            uris=tuple(uris),
            subject=cert.subject.rfc4514_string(),
            subject_attrs=attrs,
        )

    def names(self) -> list[str]:
        """The literal names to look users up by, in nats-server's order (subject last)."""
        out = [*self.emails, *self.dns_names, *self.uris]
        if self.subject:
            out.append(self.subject)
        return out

    def subject_is(self, dn: str) -> bool:
        """Whether the distinguished name ``dn`` has exactly this subject's attributes."""
        wanted = parse_dn(dn)
        return wanted is not None and bool(wanted) and Counter(wanted) == Counter(self.subject_attrs)


def parse_dn(text: str) -> list[tuple[str, str]] | None:
    """``"CN=bob,OU=eng+UID=7"`` as ``[(type, value), ...]`` (types upper-case); None if not a DN."""
    attrs: list[tuple[str, str]] = []
    part: list[str] = []
    parts: list[str] = []
    escaped = False
    for ch in text:
        if escaped:
            part.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch in ",+":
            parts.append("".join(part))
            part = []
        else:
            part.append(ch)
    parts.append("".join(part))
    for p in parts:
        kind, eq, value = p.partition("=")
        kind = kind.strip().upper()
        if not eq or not kind:
            return None
        attrs.append((_ALIASES.get(kind, kind), value.strip()))
    return attrs
