"""Fuzzing with Hypothesis (SECURITY.md promise 6: bad input never makes a 500).

Threat: input no form anticipated — odd Unicode, broken multipart bodies, damaged
or hostile images, garbage in the sign-in form — raises an exception nobody
handles: a 500 for the family, or worse, a half-done change.

Four targets, each with its contract:
- identifier normalisers (vault/normalize.py): return text or raise ValueError;
- multipart parsing through Django's MultiPartParser into the encrypting upload
  handler, posted to the wizard's real upload page: never a 5xx;
- image intake (vault.images.open_untrusted), on random bytes and on valid images
  of every allowed format with bytes flipped, cut or spliced: an image, or
  ImageRejected; and what decodes also makes its derivatives;
- the family sign-in form (reference + access code) posted to the real page:
  never a 5xx.
Any other exception is a crash. The test version derandomizes (fixed examples).
"""

from __future__ import annotations

import io
import traceback

from proof import count, zero

SUITE = "Fuzzing (Hypothesis)"


def _settings(examples: int, short: bool):
    from hypothesis import HealthCheck, settings

    return settings(
        max_examples=examples,
        derandomize=short,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )


class Tally:
    def __init__(self, name: str, *, http: bool = False, accepted: str = "") -> None:
        self.name = name
        self.http = http
        # What a valid input gets (an image decoded, a file stored): some must, or the
        # fuzzer never got past the first check.
        self.accepted_label = accepted
        self.accepted = 0
        self.executions = 0
        self.crashes: list[str] = []
        self.server_errors: list[str] = []

    def crash(self, what: str) -> None:
        self.crashes.append(f"{what}: {traceback.format_exc(limit=3)[-600:]}")

    def rows(self) -> list[dict]:
        rows = [
            count(SUITE, f"{self.name}: executions", self.executions),
            zero(SUITE, f"{self.name}: crashes", len(self.crashes)),
        ]
        rows[-1]["details"] = self.crashes[:10]
        if self.accepted_label:
            rows.append(count(SUITE, f"{self.name}: {self.accepted_label}", self.accepted))
        if self.http:
            rows.append(zero(SUITE, f"{self.name}: 5xx responses", len(self.server_errors)))
            rows[-1]["details"] = self.server_errors[:10]
        return rows


def fuzz_normalisers(examples: int, short: bool) -> Tally:
    from hypothesis import given
    from hypothesis import strategies as st

    from vault import normalize

    tally = Tally("identifier normalisers")
    url_alphabet = st.sampled_from(
        list("htps:/wx.cominsgrmaelkbt@?#&=%-_~+!$'()*,;[]0129 \t\n\u200b\uff41\u0430\ufe0f")
    )
    texts = st.one_of(
        st.text(max_size=300),
        st.text(url_alphabet, max_size=200),
        st.builds(lambda a, b: a + b, st.sampled_from(
            ["https://", "http://t.me/", "https://www.instagram.com/", "tel:", "mailto:",
             "+34 ", "@", "https://[", "https://xn--", "//", "https://chat.whatsapp.com/"]
        ), st.text(url_alphabet, max_size=120)),
    )  # fmt: skip
    functions = [
        normalize.normalise_url,
        normalize.normalise_phone,
        normalize.normalise_email,
        normalize.normalise_handle,
        lambda t: normalize.normalise_handle(t, "telegram"),
        lambda t: normalize.normalise_handle(t, "instagram"),
        normalize.detect_platform,
    ]

    @_settings(examples, short)
    @given(texts)
    def target(text):
        for fn in functions:
            tally.executions += 1
            try:
                result = fn(text)
            except ValueError:
                continue
            except Exception:
                tally.crash(f"{getattr(fn, '__name__', 'fn')}({text!r})")
                continue
            if result is not None and not isinstance(result, str):
                tally.crashes.append(f"{fn!r}({text!r}) returned {type(result).__name__}")

    target()
    return tally


def _seed_images() -> list[bytes]:
    from PIL import Image

    from vault import images

    seeds = []
    base = Image.new("RGB", (40, 30), (200, 30, 90))
    for fmt in ("PNG", "JPEG", "GIF", "WEBP", "TIFF", "BMP", "HEIF"):
        out = io.BytesIO()
        try:
            if fmt == "HEIF":
                import pillow_heif

                pillow_heif.register_heif_opener()
            base.save(out, fmt)
        except (KeyError, OSError, ValueError):
            continue
        data = out.getvalue()
        if images.sniff_format(data[:64]) in images.ALLOWED_FORMATS:
            seeds.append(data)
    return seeds


def fuzz_images(examples: int, short: bool) -> Tally:
    from hypothesis import given
    from hypothesis import strategies as st

    from vault import images

    tally = Tally("image intake", accepted="inputs decoded")
    seeds = _seed_images()

    @st.composite
    def mutated(draw):
        data = bytearray(draw(st.sampled_from(seeds)))
        for _ in range(draw(st.integers(0, 8))):
            at = draw(st.integers(0, len(data) - 1))
            op = draw(st.sampled_from(["flip", "cut", "splice", "set"]))
            if op == "flip":
                data[at] ^= 1 << draw(st.integers(0, 7))
            elif op == "cut":
                data = data[:at]
                if len(data) < 2:
                    break
            elif op == "splice":
                data[at:at] = draw(st.binary(max_size=64))
            else:
                data[at] = draw(st.sampled_from([0, 0xFF, 0x7F, 0x80]))
        return bytes(data)

    heads = st.sampled_from([b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF89a", b"RIFF"])

    @_settings(examples, short)
    @given(st.one_of(mutated(), st.binary(max_size=2048),
                     st.builds(lambda h, b: h + b, heads, st.binary(max_size=512))))  # fmt: skip
    def target(data):
        tally.executions += 1
        try:
            image = images.open_untrusted(data)
        except images.ImageRejected:
            return
        except Exception:
            tally.crash(f"open_untrusted({len(data)} bytes, head {data[:16]!r})")
            return
        tally.accepted += 1
        try:
            images.make_derivatives(image)
        except images.ImageRejected:
            return
        except Exception:
            tally.crash(f"make_derivatives({len(data)} bytes)")

    target()
    return tally


def _client_with_draft(organisation):
    from django.test import Client

    client = Client(raise_request_exception=False)
    if client.get("/report/").get("Location") == "/report/group/":
        client.post("/report/group/", {"group": str(organisation.uuid)})
    client.post(
        "/report/who/",
        {"filer_role": "parent", "age_band": "14_15", "contact_preference": "in_app"},
    )
    return client


def fuzz_multipart(examples: int, short: bool, organisation) -> Tally:
    from hypothesis import given
    from hypothesis import strategies as st

    tally = Tally("multipart upload parsing", http=True, accepted="bodies whose file was stored")
    client = _client_with_draft(organisation)
    names = st.one_of(
        st.text(max_size=40),
        st.sampled_from(["../../etc/passwd", "..\\..\\win.ini", "/abs/path.png", "a\x00b.png",
                         "x" * 300 + ".png", "chat.txt", '"quoted".png', "ñandú.jpg", ""]),
    )  # fmt: skip
    header_value = st.text(st.characters(exclude_characters="\r\n"), max_size=60)

    @st.composite
    def body(draw):
        boundary = draw(st.one_of(st.just("b0undary"), st.text("abcXYZ019-_'()+,./:=?", min_size=1,
                                                                   max_size=70)))  # fmt: skip
        parts = []
        for _ in range(draw(st.integers(0, 4))):
            field = draw(st.sampled_from(["files", "csrfmiddlewaretoken", "x", ""]))
            disposition = f'form-data; name="{field}"'
            if draw(st.booleans()):
                disposition += f'; filename="{draw(names)}"'
            if draw(st.booleans()):
                disposition = draw(header_value)
            lines = [f"Content-Disposition: {disposition}"]
            if draw(st.booleans()):
                kind = draw(st.sampled_from(["text/plain", "image/png", "application/pdf"]))
                lines.append(f"Content-Type: {draw(st.one_of(st.just(kind), header_value))}")
            if draw(st.booleans()):
                lines.append(
                    f"Content-Transfer-Encoding: "
                    f"{draw(st.sampled_from(['base64', 'quoted-printable', '8bit', 'x']))}"
                )
            content = draw(st.one_of(
                st.binary(max_size=512),
                st.just(b"[12/09/23] Ana: mensaje\n" * 20),
                st.just(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40),
            ))  # fmt: skip
            head = "\r\n".join(lines).encode("utf-8", "surrogatepass")
            parts.append(b"--" + boundary.encode() + b"\r\n" + head + b"\r\n\r\n" + content)
        raw = b"\r\n".join(parts) + (b"\r\n--" + boundary.encode() + b"--\r\n")
        if draw(st.booleans()):  # damage it
            cut = draw(st.integers(0, len(raw)))
            raw = raw[:cut] + draw(st.binary(max_size=32))
        declared = draw(st.one_of(st.just(boundary), st.text(max_size=20)))
        content_type = draw(st.sampled_from([
            f"multipart/form-data; boundary={declared}",
            f'multipart/form-data; boundary="{declared}"',
            "multipart/form-data",
            f"multipart/form-data; boundary={declared}; charset=utf-16",
        ]))  # fmt: skip
        return raw, content_type

    @_settings(examples, short)
    @given(body())
    def target(case):
        raw, content_type = case
        tally.executions += 1
        try:
            response = client.generic("POST", "/report/files/", raw, content_type=content_type,
                                      HTTP_ACCEPT="application/json")  # fmt: skip
        except Exception:
            tally.crash(f"POST {len(raw)} bytes, {content_type!r}")
            return
        if response.status_code >= 500:
            tally.server_errors.append(f"{response.status_code} {content_type!r}: {raw[:120]!r}")
        elif response.status_code == 200:
            tally.accepted += 1

    target()
    return tally


def fuzz_signin(examples: int, short: bool) -> Tally:
    from hypothesis import given
    from hypothesis import strategies as st

    tally = Tally("access-code sign-in form", http=True)
    from django.test import Client

    client = Client(raise_request_exception=False)
    codes = st.one_of(
        st.text(max_size=60),
        st.text("ABCDEFGHJKMNPQRSTVWXYZ0123456789- ", max_size=24),
        st.just("ABCD-EFGH-JKMN-PQRS"),
    )
    reference_tail = st.text("0123456789ABCDEFGHJKMNPQRSTVWXYZ", max_size=10)
    references = st.one_of(st.text(max_size=30), st.builds(lambda s: "AMP-" + s, reference_tail))

    @_settings(examples, short)
    @given(references, codes, st.sampled_from(["", "198.51.100.9", "2001:db8::1", "bad"]))
    def target(reference, code, address):
        from django.core.cache import cache

        tally.executions += 1
        cache.clear()  # the throttle would otherwise answer every try after the first few
        extra = {"REMOTE_ADDR": address} if address else {}
        try:
            response = client.post("/case/", {"reference": reference, "code": code}, **extra)
        except Exception:
            tally.crash(f"sign-in {reference!r} / {code!r}")
            return
        if response.status_code >= 500:
            tally.server_errors.append(f"{response.status_code} for {reference!r} / {code!r}")

    target()
    return tally


def run(*, short: bool = False) -> list[dict]:
    from support import members
    from vault.audit import Actor

    organisation = members.create_organisation(name="Grupo fuzz", actor=Actor.system("proof"))
    scale = 1 if short else 10
    tallies = [
        fuzz_normalisers(100 * scale, short),
        fuzz_multipart(40 * scale, short, organisation),
        fuzz_images(100 * scale, short),
        fuzz_signin(30 * scale, short),
    ]
    return [row for tally in tallies for row in tally.rows()]
