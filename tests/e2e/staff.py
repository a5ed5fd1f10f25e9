"""Signing a staff member in through the real pages: password, then a TOTP code."""

from allauth.mfa.totp.internal.auth import TOTP, hotp_value, yield_hotp_counters_from_time

from tests.factories import PASSWORD

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def with_totp(user):
    """Give `user` the test's TOTP authenticator (a staff account needs one)."""
    TOTP.activate(user, SECRET)
    return user


def sign_in(page, base: str, user, organisation, *, check=lambda: None) -> None:
    """Sign in on the Spanish staff pages and land on `organisation`'s home;
    `check()` runs on each page on the way (the sign-in, the second factor, home)."""
    page.goto(base + "/staff/")
    check()
    page.get_by_label("Correo electrónico").fill(user.email)
    page.get_by_label("Contraseña").fill(PASSWORD)
    page.locator("main form button[type=submit]").first.click()
    page.wait_for_url("**/2fa/authenticate/")
    check()
    code = f"{hotp_value(SECRET, next(yield_hotp_counters_from_time())):06d}"
    page.locator("input[name=code]").fill(code)
    page.locator("main form button[type=submit]").first.click()
    page.wait_for_url(f"**/staff/o/{organisation.uuid}/")
    check()
