from django.conf import settings

from vault.audit import coarse_origin


def client_ip(request) -> str:
    """The client's address, trusting X-Forwarded-For only for configured proxies."""
    proxies = settings.ALLAUTH_TRUSTED_PROXY_COUNT
    if proxies:
        hops = [h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        hops = [h for h in hops if h]
        if len(hops) >= proxies:
            return hops[-proxies]
    return request.META.get("REMOTE_ADDR", "")


def origin(request) -> str:
    return coarse_origin(client_ip(request))


def absolute_url(path: str) -> str:
    """A link for outside the request (mail, QR codes): the configured public base
    URL, never the Host header, which a client chooses (a forged one would put its
    own host into a password-reset or invitation link)."""
    return settings.AMPARO_BASE_URL + path
