"""Quick exit must never fire while a parent types, yet still fire on three bare Shifts."""

import pytest

from tests.e2e.axe import axe_problems

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SENTENCE = "Mi hija Ana me lo dijo. Luego Juan…"
TEXT_FIELDS = (
    "main textarea:visible, main input[type=text]:visible, main input[type=email]:visible,"
    " main input[type=tel]:visible, main input[type=url]:visible"
)


@pytest.fixture
def exit_target(live_server, settings):
    settings.QUICK_EXIT_URL = live_server.url + "/healthz"
    return settings.QUICK_EXIT_URL


def type_like_a_person(page, text: str) -> None:
    """A physical keyboard: each capital is Shift held down with the letter."""
    for ch in text:
        if ch.isalpha() and ch.isupper():
            page.keyboard.press(f"Shift+{ch}")
        else:
            page.keyboard.type(ch)


def type_in_every_text_field(page) -> int:
    url = page.url
    fields = page.locator(TEXT_FIELDS)
    count = fields.count()
    for i in range(count):
        field = fields.nth(i)
        field.click()
        type_like_a_person(page, SENTENCE)
        page.wait_for_timeout(100)  # an exit would have started by now
        assert page.url == url, f"quick exit fired while typing in field {i} of {url}"
        assert field.input_value().endswith(SENTENCE)
        field.fill("")
    return count


def continue_to(page, base, path):
    page.locator("main form button[type=submit]", has_text="Continuar").first.click()
    page.wait_for_url(base + path)


def test_typing_capitals_in_every_wizard_text_field_never_exits(
    phone_page, live_server, org_x, exit_target
):
    page, base = phone_page, live_server.url
    page.goto(base + "/report/")
    page.wait_for_url(base + "/report/who/")
    typed = type_in_every_text_field(page)
    page.locator("input[name=filer_role]").first.check()
    page.locator("input[name=age_band][value=under_12]").check()
    page.locator("input[name=contact_preference][value=in_app]").check()
    continue_to(page, base, "/report/what/")
    typed += type_in_every_text_field(page)
    page.locator("input[name=categories][value=sextortion]").check()
    continue_to(page, base, "/report/urgent/")
    for step in ["where", "involved", "evidence", "consent", "check"]:
        typed += type_in_every_text_field(page)
        if step == "involved":
            page.locator("input[name=platforms]").first.check()
        continue_to(page, base, f"/report/{step}/")
    # who: contact; what: narrative; urgent: payments, handle; where: urls, groups;
    # involved: handles, phones, names.
    assert typed >= 9
    assert axe_problems(page) == []


def test_three_bare_shift_presses_in_a_text_field_still_exit(
    phone_page, live_server, org_x, exit_target
):
    page, base = phone_page, live_server.url
    page.goto(base + "/report/")
    page.wait_for_url(base + "/report/who/")
    page.locator("input[name=contact_preference][value=in_app]").check()
    page.locator("main input[type=text], main input[type=email]").first.click()
    for _ in range(3):
        page.keyboard.press("Shift")
    page.wait_for_url(exit_target)


def test_another_key_between_shift_presses_starts_the_count_again(
    phone_page, live_server, exit_target
):
    page, base = phone_page, live_server.url
    page.goto(base + "/")
    page.keyboard.press("Shift")
    page.keyboard.press("Shift")
    page.keyboard.press("a")
    page.keyboard.press("Shift")
    page.wait_for_timeout(300)
    assert page.url == base + "/"
    page.keyboard.press("Shift")
    page.keyboard.press("Shift")
    page.wait_for_url(exit_target)


def test_shift_presses_that_are_part_of_a_composition_do_not_count(
    phone_page, live_server, exit_target
):
    page, base = phone_page, live_server.url
    page.goto(base + "/")
    page.evaluate(
        """() => { for (let i = 0; i < 3; i++) { for (const type of ['keydown', 'keyup']) {
             document.dispatchEvent(new KeyboardEvent(type,
               {key: 'Shift', isComposing: true, bubbles: true}));
           } } }"""
    )
    page.wait_for_timeout(300)
    assert page.url == base + "/"
