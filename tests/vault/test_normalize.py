"""Table tests for vault.normalize: the spellings families actually paste."""

from __future__ import annotations

import pytest

from vault.normalize import (
    detect_platform,
    normalise_email,
    normalise_handle,
    normalise_phone,
    normalise_url,
)

ZWSP, ZWJ, BOM, LRM = "\u200b", "\u200d", "\ufeff", "\u200e"


# --- phones ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("612 34 56 78", "+34612345678"),
        ("612345678", "+34612345678"),
        ("+34 612-345-678", "+34612345678"),
        ("0034612345678", "+34612345678"),
        ("(+34) 612.34.56.78", "+34612345678"),
        ("+34612345678", "+34612345678"),
        ("  +34 612 345 678  ", "+34612345678"),
        (f"+34{ZWSP}612{LRM}345678", "+34612345678"),
        ("tel:+34-612-345-678", "+34612345678"),
        ("\uff16\uff11\uff12345678", "+34612345678"),  # full-width digits
        ("924 12 34 56", "+34924123456"),  # Badajoz landline
        ("+44 7911 123456", "+447911123456"),
        ("+1 (202) 456-1111", "+12024561111"),
        ("+33 6 12 34 56 78", "+33612345678"),
        ("+351 912 345 678", "+351912345678"),
        ("+212 6 61 23 45 67", "+212661234567"),
        ("00 40 721 234 567", "+40721234567"),
    ],
)
def test_it_normalises_phone_numbers_to_e164(text, expected):
    assert normalise_phone(text) == expected


def test_it_reads_local_numbers_in_the_given_region():
    assert normalise_phone("07911 123456", default_region="GB") == "+447911123456"
    assert normalise_phone("06 12 34 56 78", default_region="FR") == "+33612345678"


@pytest.mark.parametrize(
    "text",
    ["", "   ", "123", "612 34 56", "+34 612 34 56 7", "+34 000 000 000", "not a number", "@@@"],
)
def test_it_rejects_impossible_phone_numbers(text):
    with pytest.raises(ValueError, match="phone number"):
        normalise_phone(text)


# --- emails --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("maria@example.com", "maria@example.com"),
        ("  Maria.Lopez@Example.COM ", "maria.lopez@example.com"),
        ("mailto:Maria@example.es", "maria@example.es"),
        (f"maria{ZWSP}@example.com", "maria@example.com"),
        ("padre+colegio@gmail.com", "padre+colegio@gmail.com"),
        ("ana@bücher.de", "ana@xn--bcher-kva.de"),
        ("ana@correo.example.", "ana@correo.example"),
    ],
)
def test_it_normalises_email_addresses(text, expected):
    assert normalise_email(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "maria",
        "maria@",
        "@example.com",
        "maria@localhost",
        "maria@example..com",
        "ma ria@example.com",
        "maria..lopez@example.com",
        ".maria@example.com",
        "maria@[127.0.0.1]",
        "maria@exa mple.com",
        "<maria@example.com>",
    ],
)
def test_it_rejects_malformed_email_addresses(text):
    with pytest.raises(ValueError, match="email"):
        normalise_email(text)


# --- handles -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "platform", "expected"),
    [
        ("@Maria.Lopez", None, "maria.lopez"),
        ("  @Maria.Lopez  ", "instagram", "maria.lopez"),
        ("MARIA_LOPEZ", "x", "maria_lopez"),
        (f"@mar{ZWSP}ia{ZWJ}_99{BOM}", "telegram", "maria_99"),
        ("\uff20\uff2d\uff41\uff52\uff49\uff41", None, "maria"),  # full-width @Maria
        ("@@maria.lopez", "tiktok", "maria.lopez"),
        ("Twitter_User", "twitter", "twitter_user"),
        ("snap.user-1", "snapchat", "snap.user-1"),
        ("https://www.instagram.com/Maria.Lopez/?igsh=abc123", None, "maria.lopez"),
        ("instagram.com/Maria.Lopez", "instagram", "maria.lopez"),
        ("https://instagram.com/stories/Maria.Lopez/3141592653", None, "maria.lopez"),
        ("https://www.tiktok.com/@Maria.Lopez?lang=es", None, "maria.lopez"),
        ("https://www.tiktok.com/@Maria.Lopez/video/7301234567890", None, "maria.lopez"),
        ("https://x.com/Maria_Lopez", None, "maria_lopez"),
        ("https://twitter.com/Maria_Lopez/status/123", "x", "maria_lopez"),
        ("mobile.twitter.com/Maria_Lopez", None, "maria_lopez"),
        ("https://t.me/Canal_Almendra", None, "canal_almendra"),
        ("t.me/s/Canal_Almendra", "telegram", "canal_almendra"),
        ("https://telegram.me/Canal_Almendra", None, "canal_almendra"),
        ("https://www.snapchat.com/add/Snap.User", None, "snap.user"),
        ("https://www.youtube.com/@Some.Channel", None, "some.channel"),
        ("https://www.reddit.com/user/Some_User/", None, "some_user"),
        ("https://www.facebook.com/Maria.Lopez.123", None, "maria.lopez.123"),
        ("https://wa.me/34612345678", None, "+34612345678"),
        ("612 34 56 78", "whatsapp", "+34612345678"),
    ],
)
def test_it_normalises_handles(text, platform, expected):
    assert normalise_handle(text, platform) == expected


@pytest.mark.parametrize(
    ("text", "platform"),
    [
        ("", None),
        ("@", None),
        ("Juan Perez", None),
        ("abc", "telegram"),  # under 5 characters
        ("1abcdef", "telegram"),  # must start with a letter
        ("maria.lopez", "telegram"),  # no dots on Telegram
        ("a" * 33, "telegram"),
        ("maria-lopez", "instagram"),
        ("a" * 31, "instagram"),
        ("a" * 25, "tiktok"),
        ("maria.lopez", "x"),
        ("a_very_long_handle", "x"),
        ("ab", "snapchat"),
        ("not a number", "whatsapp"),
        ("https://t.me/+AbCdEf123", None),  # an invite, not an account
        ("https://t.me/joinchat/AbCdEf123", "telegram"),
        ("https://www.instagram.com/p/Cx1AbC2dEfG/", None),  # a post, not an account
        ("https://example.com/maria", None),
        ("https://x.com/maria", "instagram"),  # the wrong platform
        ("https://x.com/", None),
    ],
)
def test_it_rejects_impossible_handles(text, platform):
    with pytest.raises(ValueError):
        normalise_handle(text, platform)


# --- URLs ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # scheme, host case, default ports, fragments, sorting, tracking
        ("example.com", "https://example.com/"),
        ("  https://Example.COM  ", "https://example.com/"),
        ("HTTP://EXAMPLE.com/Path/Case", "http://example.com/Path/Case"),
        ("//example.org/x", "https://example.org/x"),
        ("http://example.com:80/a", "http://example.com/a"),
        ("https://example.com:443/a", "https://example.com/a"),
        ("https://example.com:8443/a", "https://example.com:8443/a"),
        ("example.com:8080/a", "https://example.com:8080/a"),
        ("https://example.com/a#section-2", "https://example.com/a"),
        ("https://example.com/a?b=2&a=1", "https://example.com/a?a=1&b=2"),
        ("https://example.com/a?tag=x&tag=y", "https://example.com/a?tag=x&tag=y"),
        (
            "https://example.com/a?utm_source=wa&utm_medium=chat&id=7&fbclid=IwAR0x&gclid=1",
            "https://example.com/a?id=7",
        ),
        ("https://example.com/a?ref=share&si=abc&_r=1", "https://example.com/a"),
        ("https://example.com/a?UTM_Campaign=x&q=1", "https://example.com/a?q=1"),
        ("https://example.com/a b", "https://example.com/a%20b"),
        ("https://example.com/%7euser/%e2%82%ac", "https://example.com/%7Euser/%E2%82%AC"),
        ("https://example.com/50%", "https://example.com/50%25"),
        (f"https://exa{ZWSP}mple.com/{BOM}", "https://example.com/"),
        ("https://www.example.com/", "https://www.example.com/"),  # www kept off-platform
        ("http://8.8.8.8/x", "http://8.8.8.8/x"),
        # internationalised hosts
        ("https://bücher.de/Straße", "https://xn--bcher-kva.de/Stra%C3%9Fe"),
        ("https://BÜCHER.de/", "https://xn--bcher-kva.de/"),
        ("https://xn--bcher-kva.de/", "https://xn--bcher-kva.de/"),
        ("https://españa.example/", "https://xn--espaa-rta.example/"),
        # Instagram
        (
            "https://www.instagram.com/p/Cx1AbC2dEfG/?igsh=MWQ1ZGUxMzBk",
            "https://instagram.com/p/Cx1AbC2dEfG",
        ),
        ("https://instagram.com/p/Cx1AbC2dEfG", "https://instagram.com/p/Cx1AbC2dEfG"),
        (
            "instagram.com/reel/Cx1AbC2dEfG/?utm_source=ig_web_copy_link",
            "https://instagram.com/reel/Cx1AbC2dEfG",
        ),
        ("https://www.instagram.com/reels/Cx1AbC2dEfG/", "https://instagram.com/reel/Cx1AbC2dEfG"),
        (
            "https://m.instagram.com/maria.lopez/p/Cx1AbC2dEfG/",
            "https://instagram.com/p/Cx1AbC2dEfG",
        ),
        ("https://www.instagram.com/Maria.Lopez/?hl=es", "https://instagram.com/maria.lopez"),
        ("http://instagr.am/p/Cx1AbC2dEfG/", "https://instagram.com/p/Cx1AbC2dEfG"),
        # TikTok
        (
            "https://www.tiktok.com/@Maria.Lopez/video/7301234567890123456?is_from_webapp=1&sender_device=pc&web_id=7",
            "https://tiktok.com/@maria.lopez/video/7301234567890123456",
        ),
        ("https://m.tiktok.com/@Maria.Lopez/", "https://tiktok.com/@maria.lopez"),
        ("https://vm.tiktok.com/ZMabCdEf1/", "https://vm.tiktok.com/ZMabCdEf1"),
        # X / Twitter
        (
            "https://twitter.com/Maria_Lopez/status/1712345678901234567?s=20&t=AbCd",
            "https://x.com/maria_lopez/status/1712345678901234567",
        ),
        ("https://mobile.twitter.com/Maria_Lopez", "https://x.com/maria_lopez"),
        (
            "https://www.x.com/Maria_Lopez/status/17123/photo/1",
            "https://x.com/maria_lopez/status/17123",
        ),
        ("https://x.com/i/web/status/17123", "https://x.com/i/web/status/17123"),
        # YouTube
        ("https://youtu.be/dQw4w9WgXcQ?si=AbC123xyz", "https://youtube.com/watch?v=dQw4w9WgXcQ"),
        (
            "https://youtu.be/dQw4w9WgXcQ?list=PLx&si=1",
            "https://youtube.com/watch?list=PLx&v=dQw4w9WgXcQ",
        ),
        (
            "https://m.youtube.com/watch?feature=share&v=dQw4w9WgXcQ&t=42",
            "https://youtube.com/watch?v=dQw4w9WgXcQ",
        ),
        (
            "https://www.youtube.com/@Some.Channel/videos",
            "https://youtube.com/@some.channel/videos",
        ),
        # Telegram
        ("https://t.me/s/Canal_Almendra", "https://t.me/canal_almendra"),
        ("https://telegram.me/Canal_Almendra/1234", "https://t.me/canal_almendra/1234"),
        ("http://telegram.dog/Canal_Almendra", "https://t.me/canal_almendra"),
        ("t.me/Canal_Almendra/12?comment=3&single", "https://t.me/canal_almendra/12?comment=3"),
        ("https://t.me/+AbCdEf-123_XyZ", "https://t.me/+AbCdEf-123_XyZ"),  # invite: case kept
        ("https://t.me/joinchat/AAAAAEkK3Bc9xYz", "https://t.me/joinchat/AAAAAEkK3Bc9xYz"),
        ("https://telegram.me/joinchat/AAAAAEkK3Bc9xYz/", "https://t.me/joinchat/AAAAAEkK3Bc9xYz"),
        ("https://t.me/c/1234567890/42", "https://t.me/c/1234567890/42"),
        # WhatsApp
        (
            "https://chat.whatsapp.com/KzAbC1dEfGh2IjKlMn3OpQ",
            "https://chat.whatsapp.com/KzAbC1dEfGh2IjKlMn3OpQ",
        ),
        (
            "chat.whatsapp.com/KzAbC1dEfGh2IjKlMn3OpQ#x",
            "https://chat.whatsapp.com/KzAbC1dEfGh2IjKlMn3OpQ",
        ),
        (
            "https://CHAT.WHATSAPP.COM/KzAbC1dEfGh2/?utm_source=x",
            "https://chat.whatsapp.com/KzAbC1dEfGh2",
        ),
        ("https://wa.me/34612345678?text=hola", "https://wa.me/34612345678"),
        (
            "https://www.whatsapp.com/channel/0029VaAbCdEf",
            "https://whatsapp.com/channel/0029VaAbCdEf",
        ),
        # Facebook, Discord, Snapchat, Reddit
        (
            "https://m.facebook.com/permalink.php?story_fbid=pfbid0AbC&id=1000&__cft__[0]=AZx&mibextid=Nif5oz",
            "https://facebook.com/permalink.php?id=1000&story_fbid=pfbid0AbC",
        ),
        ("https://fb.com/groups/123/posts/456/", "https://facebook.com/groups/123/posts/456"),
        ("https://discord.gg/AbCdEf", "https://discord.gg/AbCdEf"),
        ("https://discordapp.com/invite/AbCdEf", "https://discord.com/invite/AbCdEf"),
        (
            "https://www.snapchat.com/add/Snap.User?share_id=x&locale=es",
            "https://snapchat.com/add/snap.user",
        ),
        (
            "https://old.reddit.com/r/Spain/comments/abc123/title/?utm_name=x",
            "https://reddit.com/r/Spain/comments/abc123/title",
        ),
    ],
)
def test_it_canonicalises_urls(text, expected):
    assert normalise_url(text) == expected


def test_it_gives_one_form_for_many_spellings_of_one_post():
    spellings = [
        "instagram.com/p/Cx1AbC2dEfG",
        "https://www.instagram.com/p/Cx1AbC2dEfG/",
        "http://m.instagram.com/p/Cx1AbC2dEfG/?igsh=abc&utm_source=ig_web_copy_link#comments",
        "HTTPS://INSTAGRAM.COM/p/Cx1AbC2dEfG",
        "https://www.instagram.com/maria.lopez/p/Cx1AbC2dEfG/?img_index=1",
    ]
    assert {normalise_url(s) for s in spellings} == {"https://instagram.com/p/Cx1AbC2dEfG"}
    videos = [
        "https://youtu.be/dQw4w9WgXcQ?list=PLx&si=AbC",
        "https://www.youtube.com/watch?v=dQw4w9WgXcQ&list=PLx",
        "m.youtube.com/watch?list=PLx&feature=share&v=dQw4w9WgXcQ#t=10",
    ]
    assert len({normalise_url(v) for v in videos}) == 1


def test_it_keeps_case_sensitive_codes_distinct():
    assert normalise_url("https://t.me/+AbCdEf") != normalise_url("https://t.me/+abcdef")
    assert normalise_url("chat.whatsapp.com/AbCdEf") != normalise_url("chat.whatsapp.com/abcdef")
    assert normalise_url("instagram.com/p/AbC") != normalise_url("instagram.com/p/abc")


@pytest.mark.parametrize(
    "text",
    [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(document.cookie)",
        " javascript:alert(1)",
        "java\tscript:alert(1)",
        "java\nscript:alert(1)",
        "data:text/html;base64,PHNjcmlwdD4=",
        "file:///etc/passwd",
        "file://C:/Windows/win.ini",
        "ftp://example.com/file",
        "mailto:someone@example.com",
        "vbscript:msgbox(1)",
        "blob:https://example.com/uuid",
    ],
)
def test_it_refuses_non_web_schemes(text):
    with pytest.raises(ValueError):
        normalise_url(text)


@pytest.mark.parametrize(
    "text",
    [
        "http://localhost/",
        "localhost:8000/admin",
        "http://LOCALHOST./",
        "http://app.localhost/",
        "http://127.0.0.1/",
        "http://127.0.0.1:6379/",
        "http://127.1/",
        "http://2130706433/",
        "http://0x7f.0.0.1/",
        "http://0177.0.0.1/",
        "http://0.0.0.0/",
        "http://10.0.0.1/",
        "http://10.255.255.254/",
        "http://172.16.0.1/",
        "http://192.168.1.1/",
        "192.168.0.10/router",
        "http://169.254.169.254/latest/meta-data/",
        "http://100.64.0.1/",
        "http://[::1]/",
        "http://[fe80::1]/",
        "http://[fd00::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://224.0.0.1/",
        "http://intranet/",
        "http://printer.local/",
        "http://db.internal/",
        "http://nas.home.arpa/",
    ],
)
def test_it_refuses_addresses_that_are_not_public(text):
    with pytest.raises(ValueError, match="not a public web address"):
        normalise_url(text)


@pytest.mark.parametrize(
    "text",
    [
        "https://user:pass@example.com/",
        "https://user@example.com/",
        "https://@example.com/",
        "https://example.com@evil.example/",
        "http://admin:admin@192.168.1.1/",
    ],
)
def test_it_refuses_addresses_with_credentials(text):
    with pytest.raises(ValueError, match="user name or password"):
        normalise_url(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "https://",
        "http:///path",
        "https://exa<mple.com/",
        "https://exa_mple..com/",
        "https://example.com:99999/",
        "https://example.com:port/",
        "https://[::1/",
        "https://" + "a" * 64 + ".com/",
        "https://example.com/" + "a" * 5000,
        "https://example.com/\x00",
    ],
)
def test_it_refuses_malformed_addresses(text):
    with pytest.raises(ValueError):
        normalise_url(text)


# --- platforms -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://chat.whatsapp.com/AbC", "whatsapp"),
        ("wa.me/34612345678", "whatsapp"),
        ("https://t.me/canal", "telegram"),
        ("telegram.me", "telegram"),
        ("https://www.instagram.com/p/x", "instagram"),
        ("instagr.am", "instagram"),
        ("https://vm.tiktok.com/ZMabc/", "tiktok"),
        ("https://www.snapchat.com/add/x", "snapchat"),
        ("https://twitter.com/x", "x"),
        ("x.com", "x"),
        ("https://t.co/abc", "x"),
        ("https://discord.gg/abc", "discord"),
        ("https://youtu.be/abc", "youtube"),
        ("https://m.youtube.com/watch?v=1", "youtube"),
        ("https://old.reddit.com/r/x", "reddit"),
        ("https://fb.watch/abc", "facebook"),
        ("https://m.facebook.com/x", "facebook"),
        ("HTTPS://WWW.INSTAGRAM.COM/", "instagram"),
        ("https://instagram.com.evil.example/", None),
        ("https://evil.example/instagram.com", None),
        ("https://notx.com/", None),
        ("https://example.com/", None),
        ("", None),
        ("javascript:alert(1)", None),
        ("https://[::1", None),
    ],
)
def test_it_detects_platforms(text, expected):
    assert detect_platform(text) == expected
