"""A parent on a phone, in Spanish, from the start page to a receipt and back."""

import hashlib
import io
import re

import pytest
from PIL import Image

from support.models import Case, Fingerprint, Message
from tests.e2e.axe import axe_problems

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

URLS = [
    "https://www.instagram.com/p/CxYz123/?igsh=abc",
    "https://t.me/canal_falso/15",
    "https://x.com/cuenta_falsa/status/1700000000000000000",
]


@pytest.fixture
def fake_image(tmp_path):
    """Stands in for the picture the family must never send."""
    image = Image.new("RGB", (640, 480), (200, 40, 90))
    for x in range(0, 640, 40):
        for y in range(0, 480, 40):
            image.putpixel((x, y), (0, 0, 0))
    path = tmp_path / "foto.jpg"
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=90)
    path.write_bytes(buf.getvalue())
    return path


@pytest.fixture
def screenshots(tmp_path):
    paths = []
    for i, colour in enumerate([(230, 230, 230), (20, 20, 20)]):
        path = tmp_path / f"captura-{i}.png"
        Image.new("RGB", (390, 844), colour).save(path, "PNG")
        paths.append(path)
    return paths


def test_a_parent_files_a_report_and_comes_back(
    phone_page, live_server, org_x, fake_image, screenshots
):
    page, base = phone_page, live_server.url
    image_bytes = fake_image.read_bytes()
    sent_bodies: list[bytes] = []
    page.on("request", lambda r: sent_bodies.append(r.post_data_buffer or b""))
    problems = {}

    def check_page():
        problems[page.url] = axe_problems(page)

    page.goto(base + "/")
    check_page()
    page.get_by_role("link", name="Empezar un aviso").click()
    # 1. who
    check_page()
    page.get_by_label("La madre, el padre o el tutor o tutora legal").check()
    page.get_by_label("14 o 15").check()
    page.get_by_label("Solo mensajes en la página del caso").check()
    page.get_by_role("button", name="Continuar").click()
    # 2. what
    check_page()
    page.get_by_label("Alguien ha hecho imágenes falsas").check()
    page.get_by_label("Cuéntanoslo con tus palabras").fill("Las compartieron en el grupo de clase.")
    page.get_by_role("button", name="Continuar").click()
    # 3. where
    check_page()
    page.get_by_label("WhatsApp").check()
    page.get_by_label("Direcciones web").fill("\n".join(URLS))
    page.get_by_role("button", name="Continuar").click()
    # 4. involved (optional)
    check_page()
    page.get_by_role("button", name="Continuar").click()
    # 5. evidence: fingerprint on the device
    check_page()
    page.set_input_files("[data-fingerprint-input]", str(fake_image))
    page.wait_for_function(
        "() => JSON.parse(document.querySelector('input[name=fingerprints]').value || '[]')"
        ".length === 1"
    )
    assert page.locator("img").count() == 0  # the image is never shown
    # Two context files (screenshots of the chat), each with its own progress bar.
    page.set_input_files("#context-files", [str(p) for p in screenshots])
    page.locator("form[data-upload-form] button[type=submit]").click()
    page.wait_for_function(
        "() => document.querySelectorAll('[data-upload-list] progress').length === 2 &&"
        " [...document.querySelectorAll('[data-upload-list] progress')].every(p => p.value === 100)"
    )
    assert page.locator("[data-upload-list] .file-failed").count() == 0
    page.get_by_role("button", name="Continuar").click()
    # 6. consent
    check_page()
    page.get_by_label("Pedir en nuestro nombre a las plataformas").check()
    page.get_by_label("Sí", exact=True).check()
    page.get_by_role("button", name="Continuar").click()
    # 7. check and send
    check_page()
    assert "instagram.com/p/CxYz123" in page.content()
    page.get_by_role("button", name="Enviar aviso").click()
    # receipt
    check_page()
    reference = page.locator(".receipt-ref").inner_text().strip()
    code = "".join(page.locator(".code-group").all_inner_texts())
    assert re.fullmatch(r"AMP-[0-9A-Z]{8}", reference) and len(code) == 16
    page.get_by_label("He guardado la referencia y el código").check()
    page.get_by_role("button", name="Continuar").click()
    check_page()

    case = Case.objects.get(reference=reference)
    fingerprint = Fingerprint.objects.get(case=case)
    assert fingerprint.sha256 == hashlib.sha256(image_bytes).hexdigest()
    assert len(fingerprint.pdq) == 64
    assert case.locations.count() == 3
    assert sorted(f.blob.filename() for f in case.files.all()) == ["captura-0.png", "captura-1.png"]
    # The image's bytes never left the phone, in any request.
    assert not any(image_bytes[1000:1064] in body for body in sent_bodies)

    # Coming back with the receipt
    page.goto(base + "/case/")
    check_page()
    page.get_by_label("Referencia del caso").fill(reference)
    page.get_by_label("Código de acceso").fill(code)
    page.get_by_role("button", name="Continuar").click()
    page.wait_for_url(base + "/case/status/")
    check_page()
    assert reference in page.content()
    page.get_by_label("Tu mensaje").fill("Gracias, ¿qué pasa ahora?")
    page.get_by_role("button", name="Enviar mensaje").click()
    page.wait_for_load_state()
    assert Message.objects.get(case=case).body == "Gracias, ¿qué pasa ahora?"
    check_page()
    assert {url: p for url, p in problems.items() if p} == {}


def tab_to(page, selector: str, limit: int = 80) -> None:
    """Press Tab until the element matching `selector` has focus (keyboard only)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("(s) => document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"{selector} cannot be reached with the keyboard")


def choose_radio(page, name: str, index: int) -> None:
    """Tab into a radio group, then arrow keys to the option, as keyboard users do."""
    tab_to(page, f"input[name={name}]")
    page.keyboard.press("Space")
    for _ in range(index):
        page.keyboard.press("ArrowDown")
    assert page.evaluate(f"document.querySelectorAll('input[name={name}]')[{index}].checked")


def test_the_same_report_with_the_keyboard_only_in_english(
    phone_page, live_server, org_x, fake_image
):
    page, base = phone_page, live_server.url
    page.context.add_cookies([{"name": "django_language", "value": "en", "url": base}])
    problems = {}

    def check_page():
        problems[page.url] = axe_problems(page)

    page.goto(base + "/")
    check_page()
    tab_to(page, "a[href='/report/']")
    page.keyboard.press("Enter")
    page.wait_for_url(base + "/report/who/")
    check_page()
    choose_radio(page, "filer_role", 0)
    choose_radio(page, "age_band", 2)
    choose_radio(page, "contact_preference", 1)
    tab_to(page, "main button[type=submit]")
    page.keyboard.press("Enter")
    page.wait_for_url(base + "/report/what/")
    check_page()
    tab_to(page, "#id_categories_0")
    page.keyboard.press("Space")
    tab_to(page, "main button[type=submit]")
    page.keyboard.press("Enter")
    page.wait_for_url(base + "/report/where/")
    # An error, announced and focused, then corrected.
    check_page()
    tab_to(page, "main button[type=submit]")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.wait_for_function("document.activeElement.matches('[data-error-summary]')")
    check_page()
    tab_to(page, "#id_urls")
    page.keyboard.type("https://www.tiktok.com/@cuenta/video/7300000000000000000")
    tab_to(page, "main button[type=submit]")
    page.keyboard.press("Enter")
    page.wait_for_url(base + "/report/involved/")
    check_page()
    tab_to(page, "main button[type=submit]")
    page.keyboard.press("Enter")
    page.wait_for_url(base + "/report/evidence/")
    check_page()
    page.set_input_files("[data-fingerprint-input]", str(fake_image))  # the file picker is the OS's
    page.wait_for_function(
        "() => JSON.parse(document.querySelector('input[name=fingerprints]').value || '[]')"
        ".length === 1"
    )
    # The evidence step has two forms: "send these files" and the step's Continue.
    tab_to(page, "form[data-step-form] button[type=submit]")
    page.keyboard.press("Enter")
    page.wait_for_url(base + "/report/consent/")
    check_page()
    tab_to(page, "#id_takedown")
    page.keyboard.press("Space")
    choose_radio(page, "assent", 0)
    tab_to(page, "main button[type=submit]")
    page.keyboard.press("Enter")
    page.wait_for_url(base + "/report/check/")
    check_page()
    tab_to(page, "main form button[type=submit]")
    page.keyboard.press("Enter")
    page.wait_for_url(base + "/receipt/")
    check_page()
    tab_to(page, "#saved")
    page.keyboard.press("Space")
    tab_to(page, "main form button[type=submit]")
    page.keyboard.press("Enter")
    page.wait_for_url(base + "/receipt/saved/")
    check_page()
    assert Case.objects.get().locations.get().platform == "tiktok"
    assert {url: p for url, p in problems.items() if p} == {}
