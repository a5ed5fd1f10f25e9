"""Canonical forms of the identifiers families report: phones, emails, handles, URLs.

Two reports naming the same account must produce the same string, or their blind
indexes (``vault.crypto.blind_index``) will never match and the cases will not be
linked. So every function here maps the many spellings people paste — spaces,
capitals, ``@``, mobile hosts, share-tracking parameters, invisible characters
copied from chat apps — to one form, and raises ``ValueError`` for input that
cannot be what it claims to be. The messages are short English sentences; callers
catch the error and show their own translated message.

Canonical values are also what staff see, so nothing meaningful is dropped: only
parameters that identify the sharer rather than the content are removed, and
case-sensitive parts (post ids, invite codes) are kept as typed.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import unicodedata
from urllib.parse import quote, unquote, urlsplit

import phonenumbers

# Zero-width and bidirectional-control characters that chat apps and web pages
# slip into copied text; invisible, but they would change a blind index.
_INVISIBLE = dict.fromkeys(
    map(
        ord,
        "\u00ad\u180e\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
        "\u2060\u2061\u2062\u2063\u2064\u2066\u2067\u2068\u2069\ufeff",
    )
)

MAX_URL_LENGTH = 4096


def _clean(text: str) -> str:
    """NFKC (full-width letters to ASCII), invisible characters removed, trimmed."""
    if not isinstance(text, str):
        raise ValueError("not text")
    return unicodedata.normalize("NFKC", text).translate(_INVISIBLE).strip()


# ---------------------------------------------------------------------------
# Phones and emails
# ---------------------------------------------------------------------------


def normalise_phone(text: str, default_region: str = "ES") -> str:
    """Return a phone number in E.164 form (``+34612345678``).

    Numbers without an international prefix are read as numbers of
    ``default_region``; ``00`` and ``+`` prefixes, spaces, dots, dashes and
    brackets are all understood (Google's libphonenumber rules). Raises ValueError
    for anything that is not a valid number.
    """
    text = _clean(text)
    if not text or len(text) > 64:
        raise ValueError("not a valid phone number")
    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException:
        raise ValueError("not a valid phone number") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError("not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


_EMAIL_LOCAL_FORBIDDEN = re.compile(r"[\s<>()\[\]\\,;:\"@]")


def normalise_email(text: str) -> str:
    """Return an email address trimmed, lower-cased, with an ASCII (IDNA) domain.

    The whole address is lower-cased: nearly every provider treats the local part
    case-insensitively, and a missed match matters more here than a rare false one.
    Validation is deliberately basic (one ``@``, a plausible local part, a domain
    with a dot); deliverability is not checked.
    """
    text = _clean(text)
    if text[:7].lower() == "mailto:":
        text = text[7:]
    local, at, domain = text.rpartition("@")
    if (
        not at
        or not local
        or len(local) > 64
        or _EMAIL_LOCAL_FORBIDDEN.search(local)
        or local.startswith(".")
        or local.endswith(".")
        or ".." in local
    ):
        raise ValueError("not a valid email address")
    try:
        domain = _ascii_host(domain)
    except ValueError:
        raise ValueError("not a valid email address") from None
    if "." not in domain or _is_ip_literal(domain):
        raise ValueError("not a valid email address")
    return f"{local.lower()}@{domain}"


# ---------------------------------------------------------------------------
# Hosts and platforms
# ---------------------------------------------------------------------------

_PLATFORM_DOMAINS: dict[str, tuple[str, ...]] = {
    "whatsapp": ("whatsapp.com", "wa.me", "whatsapp.net"),
    "telegram": ("t.me", "telegram.me", "telegram.dog", "telegram.org"),
    "instagram": ("instagram.com", "instagr.am"),
    "tiktok": ("tiktok.com",),
    "snapchat": ("snapchat.com",),
    "x": ("x.com", "twitter.com", "t.co"),
    "discord": ("discord.com", "discord.gg", "discordapp.com"),
    "youtube": ("youtube.com", "youtu.be", "youtube-nocookie.com"),
    "reddit": ("reddit.com", "redd.it"),
    "facebook": ("facebook.com", "fb.com", "fb.me", "fb.watch", "m.me", "messenger.com"),
}
PLATFORMS = tuple(_PLATFORM_DOMAINS)

# Hosts whose www./m./mobile. variants all serve the same pages.
_BARE_HOSTS = frozenset(
    {
        "instagram.com",
        "tiktok.com",
        "x.com",
        "twitter.com",
        "facebook.com",
        "youtube.com",
        "reddit.com",
        "snapchat.com",
        "whatsapp.com",
        "discord.com",
    }
)
_MIRROR_PREFIXES = ("www.", "m.", "mobile.", "mbasic.", "web.", "touch.", "old.", "new.")
_HOST_ALIASES = {
    "twitter.com": "x.com",
    "telegram.me": "t.me",
    "telegram.dog": "t.me",
    "fb.com": "facebook.com",
    "instagr.am": "instagram.com",
    "discordapp.com": "discord.com",
}
# Names that only resolve inside a network (RFC 6761/6762/8375 and common practice).
_LOCAL_SUFFIXES = ("localhost", "local", "localdomain", "internal", "home.arpa", "lan")
_LOCAL_DOT_SUFFIXES = tuple("." + suffix for suffix in _LOCAL_SUFFIXES)
_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")


def _ascii_host(host: str) -> str:
    """Lower-case, IDNA-encode (``bücher.de`` → ``xn--bcher-kva.de``) and check a host."""
    host = host.strip().lower().rstrip(".")
    if not host or len(host) > 253:
        raise ValueError("not a valid host")
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError("not a valid host") from None
    if not all(_LABEL.fullmatch(label) for label in host.split(".")):
        raise ValueError("not a valid host")
    return host


def _is_ip_literal(host: str) -> bool:
    last = host.rsplit(".", 1)[-1]
    return ":" in host or last.isdigit() or bool(re.fullmatch(r"0x[0-9a-f]*", last))


def _public_ip(host: str) -> str:
    """Canonical text of an IP-literal host; ValueError unless globally routable.

    Numeric hosts are read the way browsers and libc read them (``127.1``,
    ``0x7f.0.0.1``, ``2130706433`` are all 127.0.0.1), so odd spellings of a
    private address are caught too.
    """
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        try:
            ip = ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            raise ValueError("not a valid web address") from None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if not ip.is_global or ip.is_multicast:
        raise ValueError("not a public web address")
    return f"[{ip}]" if ip.version == 6 else str(ip)


def _canonical_host(host: str) -> str:
    for prefix in _MIRROR_PREFIXES:
        if host.startswith(prefix) and host[len(prefix) :] in _BARE_HOSTS:
            host = host[len(prefix) :]
            break
    return _HOST_ALIASES.get(host, host)


def _platform_of_host(host: str) -> str | None:
    for platform, domains in _PLATFORM_DOMAINS.items():
        if any(host == d or host.endswith("." + d) for d in domains):
            return platform
    return None


def detect_platform(url_or_host: str) -> str | None:
    """Name the platform of a URL or host, or None.

    One of "whatsapp", "telegram", "instagram", "tiktok", "snapchat", "x",
    "discord", "youtube", "reddit", "facebook". Matching is by whole domain, so
    ``instagram.com.example.net`` is not Instagram.
    """
    text = _clean(url_or_host)
    if "://" not in text and not text.startswith("//"):
        text = "//" + text
    try:
        host = urlsplit(text).hostname
    except ValueError:
        return None
    return _platform_of_host(host.rstrip(".")) if host else None


# ---------------------------------------------------------------------------
# URLs
# ---------------------------------------------------------------------------

# Parameters that identify who shared a link or which campaign it came from,
# never which content it points to.
_TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "gclsrc",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "yclid",
        "twclid",
        "ttclid",
        "igsh",
        "igshid",
        "mibextid",
        "si",
        "ref",
        "ref_src",
        "ref_url",
        "_r",
        "_t",
        "is_from_webapp",
        "sender_device",
        "sender_web_id",
        "share_app_id",
        "share_link_id",
        "share_item_id",
        "share_id",
        "tt_from",
        "u_code",
        "mc_cid",
        "mc_eid",
        "_ga",
        "_gl",
        "rdt",
        "rcm",
        "xmt",
        "feature",
    }
)
_TRACKING_PREFIXES = ("utm_", "__cft__", "__tn__")

# On these platforms the query string carries only tracking, except for the
# parameters listed, which name the content itself.
_PLATFORM_QUERY_KEEP: dict[str, frozenset[str]] = {
    "instagram": frozenset(),
    "tiktok": frozenset(),
    "x": frozenset(),
    "snapchat": frozenset(),
    "whatsapp": frozenset(),
    "discord": frozenset(),
    "reddit": frozenset(),
    "telegram": frozenset({"comment", "thread"}),
    "youtube": frozenset({"v", "list"}),
    "facebook": frozenset({"story_fbid", "id", "v", "fbid", "set"}),
}

_X_RESERVED = frozenset(
    {"i", "intent", "share", "search", "hashtag", "home", "explore", "settings", "messages"}
)
_INSTAGRAM_RESERVED = frozenset(
    {"p", "reel", "reels", "tv", "stories", "explore", "accounts", "direct"}
)
_TELEGRAM_RESERVED = frozenset(
    {"joinchat", "c", "s", "addstickers", "addemoji", "addlist", "share", "proxy", "socks", "iv"}
)

_SCHEME = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*):")
_PATH_SAFE = "/:@!$&'()*+,;=-._~"
_QUERY_SAFE = "/:@!$'()*+,;=?-._~"
_PERCENT = re.compile(r"%([0-9A-Fa-f]{2})")
_STRAY_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")


def _requote(part: str, safe: str) -> str:
    """Percent-encode what must be, keep existing escapes (upper-cased)."""
    part = _STRAY_PERCENT.sub("%25", quote(part, safe=safe + "%"))
    return _PERCENT.sub(lambda m: "%" + m.group(1).upper(), part)


def _is_tracking(key: str) -> bool:
    key = unquote(key).lower()
    return key in _TRACKING_PARAMS or key.startswith(_TRACKING_PREFIXES)


def _canonical_query(query: str, platform: str | None) -> str:
    keep = _PLATFORM_QUERY_KEEP.get(platform) if platform else None
    pairs = []
    for pair in query.split("&"):
        if not pair:
            continue
        key = pair.split("=", 1)[0]
        if keep is not None and unquote(key) not in keep:
            continue
        if keep is None and _is_tracking(key):
            continue
        pairs.append((key, _requote(pair, _QUERY_SAFE)))
    # Stable sort by name: repeated parameters keep their relative order.
    pairs.sort(key=lambda kv: kv[0])
    return "&".join(pair for _, pair in pairs)


def _canonical_platform_path(
    platform: str, host: str, segments: list[str], query: str
) -> tuple[str, list[str], str]:
    """Per-platform path shapes; returns (host, segments, query)."""
    first = segments[0] if segments else ""
    if platform == "instagram":
        if first == "reels" and len(segments) > 1:
            segments = ["reel", segments[1]]
        elif first in ("p", "reel", "tv") and len(segments) > 1:
            segments = segments[:2]  # shortcodes are case-sensitive: kept as typed
        elif len(segments) > 2 and segments[1] in ("p", "reel", "tv"):
            segments = segments[1:3]  # /user/p/ID is the same post as /p/ID
        elif first == "stories" and len(segments) > 1:
            segments = ["stories", segments[1].lower(), *segments[2:]]
        elif segments:
            segments = [first.lower(), *segments[1:]]
    elif platform == "tiktok" and first.startswith("@"):
        segments = [first.lower(), *segments[1:]]
    elif platform == "x" and host == "x.com" and segments and first.lower() not in _X_RESERVED:
        if len(segments) > 2 and segments[1] == "status":
            segments = segments[:3]  # drop /photo/1, /analytics…
        segments = [first.lower(), *segments[1:]]
    elif platform == "telegram" and host == "t.me":
        if first == "s" and len(segments) > 1:
            segments = segments[1:]  # the web preview of a channel is the channel
            first = segments[0]
        # Invite links (/+CODE, /joinchat/CODE) are case-sensitive; usernames are not.
        if not first.startswith("+") and first not in _TELEGRAM_RESERVED and segments:
            segments = [first.lower(), *segments[1:]]
    elif platform == "youtube":
        if host == "youtu.be" and segments:
            extra = _canonical_query(query, "youtube")
            query = f"v={segments[0]}" + (f"&{extra}" if extra else "")
            host, segments = "youtube.com", ["watch"]
        elif first.startswith("@"):
            segments = [first.lower(), *segments[1:]]
    elif platform == "snapchat" and first == "add" and len(segments) > 1:
        segments = ["add", segments[1].lower()]
    return host, segments, query


def normalise_url(text: str) -> str:
    """Return the canonical form of a web address, or raise ValueError.

    - ``https://`` is added when no scheme is given; only http and https are
      accepted (``javascript:``, ``data:``, ``file:``… are refused).
    - Addresses with a user name or password, and hosts that are not on the public
      internet (localhost, ``.local``/``.internal`` names, single-label names,
      private, loopback and link-local IPs in any spelling) are refused. This is
      hygiene against SSRF, not a guard: anything that fetches a URL must still
      check the address it actually connects to.
    - Scheme and host are lower-cased, the host IDNA-encoded, default ports and the
      fragment dropped, tracking parameters (``utm_*``, ``fbclid``, ``igsh``, ``si``…)
      removed and the rest sorted by name.
    - Known platforms are canonicalised: https; ``www.``/``m.``/``mobile.`` hosts
      folded; twitter.com → x.com; telegram.me → t.me; ``t.me/s/NAME`` → ``t.me/NAME``;
      ``youtu.be/ID`` → ``youtube.com/watch?v=ID``; ``instagram.com/reels/ID`` →
      ``/reel/ID``; no trailing slash; their query strings reduced to the parameters
      that name content; user names (case-insensitive on these platforms)
      lower-cased. Post ids and invite codes (``chat.whatsapp.com/CODE``,
      ``t.me/+CODE``, ``t.me/joinchat/CODE``) keep their case, as do all other paths.
    """
    text = text.translate(_INVISIBLE).strip() if isinstance(text, str) else ""
    if not text:
        raise ValueError("not a valid web address")
    if len(text) > MAX_URL_LENGTH:
        raise ValueError("web address too long")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
        raise ValueError("not a valid web address")

    scheme_match = _SCHEME.match(text)
    if text.startswith("//"):
        text = "https:" + text
    elif scheme_match and not re.match(r"\d+(?:[/?#]|$)", text[scheme_match.end() :]):
        if scheme_match.group(1).lower() not in ("http", "https"):
            raise ValueError("only web addresses (http or https) are accepted")
    else:
        text = "https://" + text  # "example.com/x" or "host:8080/x"

    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise ValueError("not a valid web address") from None
    scheme = parts.scheme.lower()
    if "@" in parts.netloc:
        raise ValueError("web addresses with a user name or password are not accepted")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise ValueError("not a valid web address")

    if _is_ip_literal(host):
        host = _public_ip(host)
        platform = None
    else:
        try:
            host = _ascii_host(host)
        except ValueError:
            raise ValueError("not a valid web address") from None
        if "." not in host or host in _LOCAL_SUFFIXES or host.endswith(_LOCAL_DOT_SUFFIXES):
            raise ValueError("not a public web address")
        host = _canonical_host(host)
        platform = _platform_of_host(host)

    path = parts.path
    query = parts.query
    if platform:
        scheme = "https"
        segments = [s for s in path.split("/") if s]
        host, segments, query = _canonical_platform_path(platform, host, segments, query)
        path = "/" + "/".join(segments)
    elif not path:
        path = "/"

    netloc = host
    if port is not None and (scheme, port) not in (("http", 80), ("https", 443)):
        netloc = f"{host}:{port}"
    query = _canonical_query(query, platform)
    url = f"{scheme}://{netloc}{_requote(path, _PATH_SAFE)}"
    return f"{url}?{query}" if query else url


# ---------------------------------------------------------------------------
# Handles
# ---------------------------------------------------------------------------

_HANDLE_RULES: dict[str, re.Pattern[str]] = {
    "telegram": re.compile(r"[a-z][a-z0-9_]{4,31}"),
    "instagram": re.compile(r"[a-z0-9._]{1,30}"),
    "tiktok": re.compile(r"[a-z0-9._]{2,24}"),
    "x": re.compile(r"[a-z0-9_]{1,15}"),
    "snapchat": re.compile(r"[a-z][a-z0-9._-]{2,14}"),
    "discord": re.compile(r"[a-z0-9_.]{2,32}"),
    "youtube": re.compile(r"[a-z0-9._-]{3,30}"),
    "reddit": re.compile(r"[a-z0-9_-]{3,20}"),
    "facebook": re.compile(r"[a-z0-9.]{5,50}"),
}
_PLATFORM_ALIASES = {"twitter": "x", "ig": "instagram", "fb": "facebook", "tg": "telegram"}


def _handle_from_url(text: str) -> tuple[str, str]:
    """(platform, raw handle) from a profile URL; ValueError if it is not one."""
    if "://" not in text:
        text = "https://" + text.lstrip("/")
    try:
        parts = urlsplit(text)
    except ValueError:
        raise ValueError("not a profile address") from None
    host = _canonical_host((parts.hostname or "").rstrip("."))
    platform = _platform_of_host(host)
    segments = [unquote(s) for s in parts.path.split("/") if s]
    first = segments[0] if segments else ""
    second = segments[1] if len(segments) > 1 else ""
    handle = ""
    if platform == "instagram":
        handle = second if first == "stories" else "" if first in _INSTAGRAM_RESERVED else first
    elif (platform == "tiktok" and first.startswith("@")) or (
        platform == "x" and first.lower() not in _X_RESERVED
    ):
        handle = first
    elif platform == "telegram" and host == "t.me":
        if first.startswith("+") or first in ("joinchat", "c"):
            raise ValueError("this is an invite link, not an account")
        handle = second if first == "s" else "" if first in _TELEGRAM_RESERVED else first
    elif platform == "snapchat":
        handle = second if first == "add" else first if first.startswith("@") else ""
    elif platform == "youtube":
        handle = second if first in ("c", "user") else first if first.startswith("@") else ""
    elif (platform == "reddit" and first in ("u", "user")) or (
        platform == "discord" and first == "users"
    ):
        handle = second
    elif platform == "facebook":
        handle = "" if first.endswith(".php") or first in ("groups", "watch", "events") else first
    elif platform == "whatsapp" and host == "wa.me":
        handle = first
    if not platform or not handle:
        raise ValueError("not a profile address")
    return platform, handle


def normalise_handle(text: str, platform: str | None = None) -> str:
    """Return an account handle in canonical form: no ``@``, lower-case, no invisibles.

    Accepts a bare handle (``@Maria.Lopez``), or a profile URL from which the handle
    is taken (``instagram.com/NAME``, ``tiktok.com/@NAME``, ``x.com/NAME``,
    ``t.me/NAME``, ``snapchat.com/add/NAME``…). When the platform is known — given,
    or read from the URL — the handle must fit that platform's rules (e.g. Telegram
    5 to 32 of ``[a-z0-9_]``, X up to 15), else ValueError. For WhatsApp the handle is
    the phone number, returned in E.164. Handles are case-insensitive on every
    platform listed, so lower-casing loses nothing.
    """
    text = _clean(text)
    if platform is not None:
        platform = platform.strip().lower()
        platform = _PLATFORM_ALIASES.get(platform, platform)
    if "/" in text or text.lower().startswith(("http:", "https:")):
        url_platform, text = _handle_from_url(text)
        if platform and platform != url_platform:
            raise ValueError("this address belongs to another platform")
        platform = url_platform
    if platform == "whatsapp":
        return normalise_phone(text)
    handle = text.lstrip("@").strip().lower()
    if not handle or len(handle) > 100 or any(c.isspace() or c in "/@" for c in handle):
        raise ValueError("not a valid handle")
    rule = _HANDLE_RULES.get(platform or "")
    if rule and not rule.fullmatch(handle):
        raise ValueError("not a valid handle for this platform")
    return handle
