import pytest

from tests.e2e.axe import axe_problems

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PUBLIC_PATHS = ["/", "/safety/", "/help/"]


@pytest.fixture
def exit_target(live_server, settings):
    """A neutral page on this machine stands in for the weather site."""
    settings.QUICK_EXIT_URL = live_server.url + "/healthz"
    return settings.QUICK_EXIT_URL


def test_pressing_shift_three_times_replaces_the_page(phone_page, live_server, exit_target):
    page = phone_page
    page.goto(live_server.url + "/")
    history_before = page.evaluate("history.length")
    beacons = []
    page.on("request", lambda r: beacons.append(r.url) if r.url.endswith("/exit/") else None)
    for _ in range(3):
        page.keyboard.press("Shift")
    page.wait_for_url(exit_target)
    # replace(), not a new entry: the back button cannot return to the site.
    assert page.evaluate("history.length") == history_before
    assert any(url.endswith("/exit/") for url in beacons)


def test_two_shift_presses_do_not_exit(phone_page, live_server, exit_target):
    page = phone_page
    page.goto(live_server.url + "/")
    page.keyboard.press("Shift")
    page.keyboard.press("Shift")
    page.wait_for_timeout(300)
    assert page.url == live_server.url + "/"


def test_the_exit_button_replaces_the_page(phone_page, live_server, exit_target):
    page = phone_page
    page.goto(live_server.url + "/help/")
    button = page.locator("a.quick-exit")
    assert button.is_visible() and "Salir de esta página" in button.inner_text()
    button.click()
    page.wait_for_url(exit_target)


def test_the_hidden_exit_link_is_second_in_the_tab_order(phone_page, live_server, exit_target):
    page = phone_page
    page.goto(live_server.url + "/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.hasAttribute('data-quick-exit')")
    page.keyboard.press("Enter")
    page.wait_for_url(exit_target)


def test_the_language_switcher_changes_the_page_language(phone_page, live_server):
    page = phone_page
    page.goto(live_server.url + "/")
    assert page.get_attribute("html", "lang") == "es"
    page.get_by_role("button", name="English").click()
    page.wait_for_load_state()
    assert page.get_attribute("html", "lang") == "en"
    assert "Exit this page" in page.locator("a.quick-exit").inner_text()


@pytest.mark.parametrize("language", ["es", "en"])
@pytest.mark.parametrize("path", [*PUBLIC_PATHS, "/accounts/login/"])
def test_public_pages_have_no_serious_accessibility_violations(
    phone_page, live_server, path, language
):
    page = phone_page
    page.context.add_cookies(
        [{"name": "django_language", "value": language, "url": live_server.url}]
    )
    page.goto(live_server.url + path)
    assert page.get_attribute("html", "lang") == language
    assert axe_problems(page) == []
