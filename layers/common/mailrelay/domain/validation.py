"""Checking an address: syntax (email-validator), MX (dnspython), role and disposable addresses, the suppression
list and SES's verification status; and asking SES to verify an address (admin only)."""

from __future__ import annotations

from botocore.exceptions import ClientError
from email_validator import EmailNotValidError

from mailrelay import aws, timebox
from mailrelay.config import settings
from mailrelay.domain import suppressions
from mailrelay.errors import InvalidBody
from mailrelay.models.common import sendable_email
from mailrelay.models.suppressions import AddressCheck, VerificationRequested
from mailrelay.providers import ses

DNS_TIMEOUT = 2.0
# Local parts that name a function, not a person (RFC 2142 and common practice). Such mailboxes are shared,
# often unmonitored, and complaint-prone in bulk mail.
ROLE_LOCAL_PARTS = frozenset(
    {
        "abuse",
        "admin",
        "administrator",
        "billing",
        "compliance",
        "contact",
        "devnull",
        "dns",
        "do-not-reply",
        "donotreply",
        "ftp",
        "help",
        "hostmaster",
        "info",
        "inquiries",
        "it",
        "jobs",
        "list",
        "list-request",
        "mail",
        "mailer-daemon",
        "marketing",
        "media",
        "news",
        "no-reply",
        "noc",
        "noreply",
        "null",
        "office",
        "postmaster",
        "privacy",
        "remove",
        "root",
        "sales",
        "security",
        "service",
        "support",
        "sysadmin",
        "team",
        "undisclosed-recipients",
        "unsubscribe",
        "usenet",
        "uucp",
        "webmaster",
        "www",
    }
)


def _resolver():
    import dns.resolver

    resolver = dns.resolver.Resolver(configure=not settings().dns_nameserver)
    if settings().dns_nameserver:  # tests and air-gapped set-ups name their resolver
        host, _, port = settings().dns_nameserver.partition("@")
        resolver.nameservers = [host]
        resolver.port = int(port or 53)
    resolver.lifetime = timebox.left(DNS_TIMEOUT)
    return resolver


def mx_found(domain: str) -> bool | None:
    """True: the domain takes mail (MX, or an A/AAAA record as the implicit MX). False: it cannot. None: DNS could
    not be asked (timeout, no server) - unknown, never an error."""
    import dns.exception
    import dns.resolver

    resolver = _resolver()
    if resolver.lifetime <= 0:
        return None  # no time left to ask: unknown
    try:
        answer = resolver.resolve(domain, "MX")
        return any(str(r.exchange) != "." for r in answer)  # a null MX (RFC 7505) says "no mail here"
    except dns.resolver.NXDOMAIN:
        return False
    except dns.resolver.NoAnswer:
        pass
    except (dns.exception.Timeout, dns.resolver.NoNameservers, dns.resolver.NoResolverConfiguration):
        return None
    except dns.exception.DNSException:
        return None
    for record_type in ("A", "AAAA"):
        try:
            resolver.resolve(domain, record_type)
            return True
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            continue
        except dns.exception.DNSException:
            return None
    return False


def is_disposable(domain: str) -> bool:
    from disposable_email_domains import blocklist  # community-maintained list, imported only when needed

    parts = domain.lower().split(".")
    return any(".".join(parts[i:]) in blocklist for i in range(len(parts) - 1))


def check(address: str) -> AddressCheck:
    try:
        valid = sendable_email(address)
    except EmailNotValidError as exc:
        return AddressCheck(
            address=address,
            normalized=None,
            valid_syntax=False,
            domain=None,
            mx_found=None,
            role_address=False,
            disposable=False,
            suppressed=False,
            ses_identity_status=None,
            reason=str(exc),
        )
    return AddressCheck(
        address=address,
        normalized=valid.normalized,
        valid_syntax=True,
        domain=valid.ascii_domain,
        mx_found=mx_found(valid.ascii_domain),
        role_address=valid.local_part.lower().split("+", 1)[0] in ROLE_LOCAL_PARTS,
        disposable=is_disposable(valid.ascii_domain),
        suppressed=suppressions.is_suppressed(suppressions.normalize(valid.normalized)),
        ses_identity_status=ses.identity_status(valid.normalized),
    )


def request_verification(address: str) -> VerificationRequested:
    """SES sends its verification mail to the address (CreateEmailIdentity). Admin only: anyone else could use it
    to mail arbitrary people."""
    try:
        normalized = sendable_email(address).normalized
    except EmailNotValidError as exc:
        raise InvalidBody(f"invalid email address: {exc}", error="invalid_address") from None
    try:
        aws.client("sesv2", ses.LOOKUP_CONFIG).create_email_identity(EmailIdentity=normalized)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "AlreadyExistsException":
            raise
    return VerificationRequested(address=normalized, ses_identity_status=ses.identity_status(normalized) or "PENDING")
