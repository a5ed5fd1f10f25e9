"""Seed the platform registry from TAKEDOWN_POLICE_FACTS.md §1 (collected 2026-12).

`last_verified` is set only where the facts file cites the platform's own page for
the channel; rows known only from press, mirrors or third parties start unverified
and so show as stale until an operator checks them. Field lists follow what each
source says the form asks; an operator confirms them against the live form.
"""

from datetime import date

from django.db import migrations

CHECKED = date(2026, 12, 1)
ALL_LANGS = ["es", "en"]


def _f(key, en, es, element):
    return {"key": key, "label": {"en": en, "es": es}, "element": element}


URL = _f("url", "Link to the content", "Enlace al contenido", "urls")
WHY = _f("explanation", "Why is it illegal?", "¿Por qué es ilegal?", "explanation")
GOOD = _f("good_faith", "Statement", "Declaración", "good_faith")
NAME = _f("name", "Your name", "Su nombre", "notifier_name")
EMAIL = _f("email", "Your email", "Su correo electrónico", "notifier_email")
CONTACT = _f("email", "Contact email", "Correo de contacto", "contact")
SIGN = _f("signature", "Signature", "Firma", "signature")
IDENT = _f("description", "Describe the content", "Describa el contenido", "identification")
CONSENT = _f(
    "non_consent", "Statement of non-consent", "Declaración de no consentimiento", "non_consent"
)
REL = _f(
    "relationship", "Your relationship to the person", "Su relación con la persona", "relationship"
)
LEGAL_NAME = _f(
    "legal_name",
    "Legal name of the person shown",
    "Nombre legal de la persona que aparece",
    "depicted_name",
)
COUNTRY = _f("country", "Country", "País", "country")

DSA_FORM = [NAME, EMAIL, URL, WHY, GOOD]
TID_FORM = [URL, IDENT, CONSENT, REL, SIGN, CONTACT]
POLICY_FORM = [URL, WHY, CONTACT]


def steps(en, es):
    return {"en": en, "es": es}


META_STEPS = steps(
    [
        "Open the post, photo or profile.",
        "Tap the three dots (…) and choose Report.",
        "Choose 'Nudity or sexual activity' and then 'Involves a child' or "
        "'Sharing private images'.",
        "Send the report and note the date.",
    ],
    [
        "Abra la publicación, foto o perfil.",
        "Toque los tres puntos (…) y elija Denunciar.",
        "Elija «Desnudos o actividad sexual» y después «Afecta a un menor» o "
        "«Compartir imágenes privadas».",
        "Envíe la denuncia y anote la fecha.",
    ],
)

PLATFORMS = [
    {
        "slug": "whatsapp",
        "name": "WhatsApp",
        "kind": "messaging",
        "location_code": "whatsapp",
        "domains": ["whatsapp.com", "wa.me", "whatsapp.net"],
        "programmes": [],
        "source": "https://faq.whatsapp.com/5704021823023684",
        "verified": CHECKED,
        "notes": "In-app only. A report sends the last 5 messages to WhatsApp (secondary). "
        "WhatsApp Channels is a VLOP since 26 Jan 2026; private chats are outside the DSA. "
        "Hash programmes have no effect on end-to-end encrypted chats.",
        "routes": [
            {
                "name": "In-app report",
                "basis": "policy",
                "channel": "in_app",
                "steps": steps(
                    [
                        "Open the chat or group where the image was shared.",
                        "Press and hold the message, tap Report.",
                        "Keep the chat: do not delete it, police may need it.",
                        "Note the date you reported it.",
                    ],
                    [
                        "Abra el chat o grupo donde se compartió la imagen.",
                        "Mantenga pulsado el mensaje y toque Reportar.",
                        "No borre el chat: la policía puede necesitarlo.",
                        "Anote la fecha en que lo reportó.",
                    ],
                ),
            },
        ],
    },
    {
        "slug": "telegram",
        "name": "Telegram",
        "kind": "messaging",
        "location_code": "telegram",
        "domains": ["t.me", "telegram.me", "telegram.dog", "telegram.org"],
        "programmes": [],
        "source": "https://telegram.org/tos/eu-dsa",
        "verified": CHECKED,
        "notes": "Telegram joined IWF in Dec 2024; not a StopNCII or Take It Down partner. "
        "Single point of contact: @EURegulation bot. EDSR (dsa.telegram@edsr.eu) is for "
        "authorities only.",
        "routes": [
            {
                "name": "DSA report form",
                "basis": "dsa",
                "channel": "web_form",
                "form_url": "https://telegram.org/dsa-report",
                "form_fields": DSA_FORM,
                "required": [
                    "urls",
                    "explanation",
                    "notifier_name",
                    "notifier_email",
                    "good_faith",
                ],
                # More than art. 16(2)(c) requires for CSAM notices.
                "extra": ["notifier_name", "notifier_email"],
                "rank": 10,
                "source": "https://telegram.org/tos/eu-dsa",
                "verified": CHECKED,
            },
            {
                "name": "Takedown email",
                "basis": "policy",
                "channel": "email",
                "email": "abuse@telegram.org",
                "rank": 30,
                "source": "https://truthvoices.com/?p=61065",
                "verified": None,
                "notes": "Reported by a secondary source (verify).",
            },
            {
                "name": "Child-abuse email",
                "basis": "policy",
                "channel": "email",
                "email": "stopca@telegram.org",
                "rank": 20,
                "source": "https://bugs.telegram.org/c/42114/162",
                "verified": None,
                "notes": "Third-party sources only (verify).",
            },
            {
                "name": "In-app report",
                "basis": "policy",
                "channel": "in_app",
                "rank": 40,
                "steps": steps(
                    [
                        "Open the channel, group or message.",
                        "Tap the name at the top, then the three dots, then Report.",
                        "Choose 'Child abuse' or 'Pornography'.",
                    ],
                    [
                        "Abra el canal, grupo o mensaje.",
                        "Toque el nombre arriba, luego los tres puntos y Denunciar.",
                        "Elija «Abuso infantil» o «Pornografía».",
                    ],
                ),
            },
        ],
    },
    {
        "slug": "instagram",
        "name": "Instagram",
        "kind": "social",
        "location_code": "instagram",
        "domains": ["instagram.com", "instagr.am"],
        "programmes": ["stopncii", "take_it_down"],
        "source": "https://about.meta.com/actions/safety/topics/bullying-harassment/ncii",
        "verified": CHECKED,
        "notes": "Reviewed 24/7 in more than 70 languages; photo-matching blocks re-shares.",
        "routes": [
            {
                "name": "EU illegal content form (DSA)",
                "basis": "dsa",
                "channel": "web_form",
                "form_url": "https://help.instagram.com/contact/406206379945942",
                "form_fields": DSA_FORM,
                "rank": 10,
                "required": ["urls", "explanation", "good_faith"],
                "verified": None,
                "notes": "Form address not in the facts file (verify).",
            },
            {
                "name": "TAKE IT DOWN Act request",
                "basis": "take_it_down",
                "channel": "web_form",
                "form_url": "https://help.instagram.com/",
                "form_fields": TID_FORM,
                "deadline": 48,
                "rank": 20,
                "required": ["urls", "identification", "non_consent", "signature", "contact"],
                "source": "https://news.linkzpulse.com/?p=154425",
                "verified": None,
                "notes": "A Meta help page covers FB, IG and Threads (secondary; verify the "
                "form's address).",
            },
            {
                "name": "In-app report",
                "basis": "policy",
                "channel": "in_app",
                "rank": 40,
                "steps": META_STEPS,
            },
        ],
    },
    {
        "slug": "facebook",
        "name": "Facebook",
        "kind": "social",
        "location_code": "facebook",
        "domains": ["facebook.com", "fb.com", "fb.me", "fb.watch", "m.me", "messenger.com"],
        "programmes": ["stopncii", "take_it_down"],
        "source": "https://about.meta.com/actions/safety/topics/bullying-harassment/ncii",
        "verified": CHECKED,
        "notes": "",
        "routes": [
            {
                "name": "EU illegal content form (DSA)",
                "basis": "dsa",
                "channel": "web_form",
                "form_url": "https://www.facebook.com/help/contact/1455261717777567",
                "form_fields": DSA_FORM,
                "rank": 10,
                "required": ["urls", "explanation", "good_faith"],
                "verified": None,
                "notes": "Form address not in the facts file (verify).",
            },
            {
                "name": "TAKE IT DOWN Act request",
                "basis": "take_it_down",
                "channel": "web_form",
                "form_url": "https://www.facebook.com/help/",
                "form_fields": TID_FORM,
                "deadline": 48,
                "rank": 20,
                "required": ["urls", "identification", "non_consent", "signature", "contact"],
                "source": "https://news.linkzpulse.com/?p=154425",
                "verified": None,
                "notes": "Secondary source; verify the form's address.",
            },
            {
                "name": "In-app report",
                "basis": "policy",
                "channel": "in_app",
                "rank": 40,
                "steps": META_STEPS,
            },
        ],
    },
    {
        "slug": "threads",
        "name": "Threads",
        "kind": "social",
        "location_code": "",
        "domains": ["threads.net", "threads.com"],
        "programmes": ["stopncii", "take_it_down"],
        "source": "https://about.meta.com/actions/safety/topics/bullying-harassment/ncii",
        "verified": CHECKED,
        "notes": "",
        "routes": [
            {
                "name": "In-app report",
                "basis": "policy",
                "channel": "in_app",
                "rank": 40,
                "steps": META_STEPS,
            },
        ],
    },
    {
        "slug": "tiktok",
        "name": "TikTok",
        "kind": "video",
        "location_code": "tiktok",
        "domains": ["tiktok.com"],
        "programmes": ["stopncii", "take_it_down"],
        "source": "https://support.tiktok.com/it/safety-hc/report-a-problem/report-sexual-abuse",
        "verified": CHECKED,
        "notes": "Updates by SMS or email within set timeframes.",
        "routes": [
            {
                "name": "Sexual abuse and deepfakes form",
                "basis": "policy",
                "channel": "web_form",
                "form_url": "https://support.tiktok.com/it/safety-hc/report-a-problem/"
                "report-sexual-abuse",
                "form_fields": POLICY_FORM,
                "rank": 10,
                "required": ["urls", "explanation", "contact"],
            },
            {
                "name": "In-app report",
                "basis": "policy",
                "channel": "in_app",
                "rank": 40,
                "steps": steps(
                    [
                        "Press and hold the video, tap Report.",
                        "Choose 'Exploitation and abuse of people under 18'.",
                    ],
                    [
                        "Mantenga pulsado el vídeo y toque Denunciar.",
                        "Elija «Explotación y abuso de menores de 18 años».",
                    ],
                ),
            },
        ],
    },
    {
        "slug": "snapchat",
        "name": "Snapchat",
        "kind": "social",
        "location_code": "snapchat",
        "domains": ["snapchat.com"],
        "programmes": ["stopncii", "take_it_down"],
        "source": "https://values.snap.com/safety/safety-reporting",
        "verified": CHECKED,
        "notes": "Anyone may file, with or without an account, anonymously.",
        "routes": [
            {
                "name": "Safety report form",
                "basis": "policy",
                "channel": "web_form",
                "form_url": "https://values.snap.com/safety/safety-reporting",
                "form_fields": POLICY_FORM,
                "rank": 10,
                "required": ["urls", "explanation"],
            },
        ],
    },
    {
        "slug": "x",
        "name": "X",
        "kind": "social",
        "location_code": "x",
        "domains": ["x.com", "twitter.com", "t.co"],
        "programmes": [],
        "source": "https://help.x.com/en/rules-and-policies/us-tida",
        "verified": CHECKED,
        "notes": "Not in the StopNCII partner lists found.",
        "routes": [
            {
                "name": "TAKE IT DOWN Act form (US)",
                "basis": "take_it_down",
                "channel": "web_form",
                "form_url": "https://help.x.com/forms/safety-and-sensitive-content/take-it-down",
                "form_fields": TID_FORM,
                "deadline": 48,
                "jurisdictions": ["US"],
                "rank": 20,
                "required": ["urls", "identification", "non_consent", "signature", "contact"],
            },
            {
                "name": "EU illegal content form (DSA)",
                "basis": "dsa",
                "channel": "web_form",
                "form_url": "https://help.x.com/forms/dsa",
                "form_fields": DSA_FORM,
                "rank": 10,
                "required": ["urls", "explanation", "good_faith"],
                "verified": None,
                "notes": "Form address not in the facts file (verify).",
            },
        ],
    },
    {
        "slug": "youtube",
        "name": "YouTube",
        "kind": "video",
        "location_code": "youtube",
        "domains": ["youtube.com", "youtu.be"],
        "programmes": [],
        "source": "https://support.google.com/youtube/answer/2801895",
        "verified": CHECKED,
        "notes": "Parents and guardians may file; other relatives may not.",
        "routes": [
            {
                "name": "Privacy complaint (synthetic likeness)",
                "basis": "gdpr_erasure",
                "channel": "web_form",
                "form_url": "https://support.google.com/youtube/answer/2801895",
                "form_fields": [URL, REL, WHY, CONTACT],
                "rank": 10,
                "required": ["urls", "relationship", "explanation"],
            },
        ],
    },
    {
        "slug": "google-search",
        "name": "Google Search",
        "kind": "search",
        "location_code": "",
        "domains": [],
        "programmes": [],
        "source": "https://support.google.com/websearch/answer/6302812",
        "verified": CHECKED,
        "notes": "Only the URLs submitted are reviewed. Testing StopNCII hashes since "
        "Sept 2025 (secondary).",
        "routes": [
            {
                "name": "Remove minors' images from results",
                "basis": "search_delisting",
                "channel": "web_form",
                "form_url": "https://support.google.com/websearch/answer/6302812",
                "form_fields": [URL, REL, WHY, CONTACT],
                "rank": 10,
                "required": ["urls", "relationship", "explanation"],
                "notes": "Three forms exist (NCEI, fake explicit imagery, minors' images); the "
                "minors' form also asks for query terms, which we do not give.",
            },
        ],
    },
    {
        "slug": "bing",
        "name": "Bing",
        "kind": "search",
        "location_code": "",
        "domains": [],
        "programmes": ["stopncii"],
        "source": "https://www.engadget.com/big-tech/microsoft-joins-coalition-to-scrub-"
        "revenge-and-deepfake-porn-from-bing-195316677.html",
        "verified": None,
        "notes": "StopNCII partner since Sept 2024.",
        "routes": [
            {
                "name": "Report non-consensual imagery",
                "basis": "search_delisting",
                "channel": "web_form",
                "form_url": "https://www.microsoft.com/en-us/concern/revengeporn",
                "form_fields": [URL, REL, WHY, CONTACT],
                "rank": 10,
                "required": ["urls", "explanation"],
                "verified": None,
                "notes": "Form address not in the facts file (verify).",
            },
        ],
    },
    {
        "slug": "reddit",
        "name": "Reddit",
        "kind": "social",
        "location_code": "reddit",
        "domains": ["reddit.com", "redd.it"],
        "programmes": ["stopncii", "take_it_down"],
        "source": "https://redlib.dansworld.org/r/RedditPoliceDept/hot",
        "verified": None,
        "notes": "Options 'non-consensual intimate media' and 'minor abuse or sexualization'; "
        "a permalink is required (secondary).",
        "routes": [
            {
                "name": "Report form",
                "basis": "policy",
                "channel": "web_form",
                "form_url": "https://reddit.com/report",
                "form_fields": POLICY_FORM,
                "rank": 10,
                "required": ["urls", "explanation"],
            },
        ],
    },
    {
        "slug": "discord",
        "name": "Discord",
        "kind": "messaging",
        "location_code": "discord",
        "domains": ["discord.com", "discord.gg", "discordapp.com"],
        "programmes": [],
        "source": "https://support.discord.com/hc/articles/38675715591831",
        "verified": CHECKED,
        "notes": "Repeated reports can cost access to the reporting functions. Police: "
        "Kodex portal; MLAT needed for data.",
        "routes": [
            {
                "name": "TAKE IT DOWN Act form (US)",
                "basis": "take_it_down",
                "channel": "web_form",
                "form_url": "https://discord.com/report",
                "form_fields": [URL, LEGAL_NAME, IDENT, CONSENT, REL, SIGN, CONTACT],
                "deadline": 48,
                "jurisdictions": ["US"],
                "one_item": True,
                "rank": 20,
                "required": [
                    "urls",
                    "identification",
                    "non_consent",
                    "signature",
                    "contact",
                    "depicted_name",
                ],
                "extra": ["depicted_name"],
            },
            {
                "name": "EU DSA form",
                "basis": "dsa",
                "channel": "web_form",
                "form_url": "https://discord.com/report",
                "form_fields": DSA_FORM,
                "one_item": True,
                "rank": 10,
                "required": ["urls", "explanation", "good_faith"],
                "source": "https://support.discord.com/hc/en-us/articles/17861767909527",
                "notes": "A separate DSA webform; 6-month appeals (verify its own address).",
            },
            {
                "name": "Report form",
                "basis": "policy",
                "channel": "web_form",
                "form_url": "https://discord.com/report",
                "form_fields": POLICY_FORM,
                "one_item": True,
                "rank": 30,
                "required": ["urls", "explanation"],
            },
        ],
    },
    {
        "slug": "pornhub",
        "name": "Pornhub / Aylo",
        "kind": "adult",
        "location_code": "",
        "domains": ["pornhub.com"],
        "programmes": ["stopncii", "take_it_down"],
        "source": "https://support.brazzers.com/legal/anti-trafficking-statement",
        "verified": CHECKED,
        "notes": "Reported content is suspended (FTC/Utah order, Sept 2025). A Trusted "
        "Flagger Program exists for NGOs: bulk URLs, automatic suspension.",
        "routes": [
            {
                "name": "Content removal request",
                "basis": "policy",
                "channel": "web_form",
                "form_url": "https://www.pornhub.com/content-removal",
                "form_fields": [URL, WHY, CONTACT],
                "rank": 10,
                "required": ["urls", "explanation", "contact"],
            },
            {
                "name": "TAKE IT DOWN Act request",
                "basis": "take_it_down",
                "channel": "web_form",
                "form_url": "https://www.pornhub.com/content-removal",
                "form_fields": TID_FORM,
                "deadline": 48,
                "rank": 20,
                "required": ["urls", "identification", "non_consent", "signature", "contact"],
                "verified": None,
                "notes": "Same footer form (verify it takes TIDA requests).",
            },
        ],
    },
    {
        "slug": "xvideos",
        "name": "XVideos",
        "kind": "adult",
        "location_code": "",
        "domains": ["xvideos.com"],
        "programmes": [],
        "source": "",
        "verified": None,
        "notes": "Not covered by the facts file: find the content-removal link in the "
        "site's footer and verify.",
        "routes": [
            {
                "name": "Content removal form",
                "basis": "policy",
                "channel": "web_form",
                "form_url": "https://www.xvideos.com/",
                "form_fields": [URL, WHY, CONTACT],
                "rank": 10,
                "required": ["urls", "explanation"],
                "verified": None,
            },
        ],
    },
    {
        "slug": "onlyfans",
        "name": "OnlyFans",
        "kind": "adult",
        "location_code": "",
        "domains": ["onlyfans.com"],
        "programmes": ["stopncii", "take_it_down"],
        "source": "https://blog.onlyfans.com/reporting-on-onlyfans/",
        "verified": CHECKED,
        "notes": "AUP at onlyfans.com/aup; appeals within 6 months at "
        "onlyfans.com/transparency-center/appeals.",
        "routes": [
            {
                "name": "In-app report",
                "basis": "policy",
                "channel": "in_app",
                "rank": 10,
                "steps": steps(
                    ["Open the post or profile.", "Tap the three dots and choose Report."],
                    [
                        "Abra la publicación o el perfil.",
                        "Toque los tres puntos y elija Denunciar.",
                    ],
                ),
            },
        ],
    },
    {
        "slug": "aepd",
        "name": "AEPD Canal Prioritario",
        "kind": "regulator",
        "location_code": "",
        "domains": [],
        "programmes": [],
        "languages": ["es"],
        "source": "https://www.aepd.es/canalprioritario",
        "verified": None,
        "notes": "For sexual or violent content spread without consent; free; a third "
        "party may file. The AEPD can order urgent removal. Anonymous filing for 14-17 "
        "year-olds (verify).",
        "routes": [
            {
                "name": "Canal Prioritario filing",
                "basis": "aepd",
                "channel": "web_form",
                "form_url": "https://www.aepd.es/canalprioritario",
                "form_fields": [
                    URL,
                    _f("circumstances", "Circumstances", "Circunstancias", "circumstances"),
                    _f("means", "Means of spread", "Medios de difusión", "means_of_spread"),
                    _f(
                        "prior",
                        "Police or court actions",
                        "Actuaciones policiales o judiciales",
                        "prior_actions",
                    ),
                    _f(
                        "vulnerability",
                        "Vulnerability",
                        "Situación de vulnerabilidad",
                        "vulnerabilities",
                    ),
                    _f(
                        "attempts",
                        "Requests already made to the platform",
                        "Solicitudes ya hechas a la plataforma",
                        "platform_attempts",
                    ),
                    CONTACT,
                ],
                "jurisdictions": ["ES"],
                "languages": ["es"],
                "rank": 60,
                "required": [
                    "urls",
                    "circumstances",
                    "means_of_spread",
                    "prior_actions",
                    "vulnerabilities",
                    "contact",
                ],
            },
        ],
    },
    {
        "slug": "incibe",
        "name": "INCIBE 017 / INHOPE",
        "kind": "hotline",
        "location_code": "",
        "domains": [],
        "programmes": [],
        "languages": ["es"],
        "source": "https://inhope.org/EN/articles/incibe-signs-agreement-with-spanish-"
        "prosecutor-s-office",
        "verified": CHECKED,
        "notes": "Spain's INHOPE hotline since Jan 2021; forwards CSAM to the Fiscalía and "
        "monitors removal. 017, WhatsApp 900 116 117, Telegram @INCIBE017, 8:00-23:00.",
        "routes": [
            {
                "name": "INCIBE 017 referral",
                "basis": "hotline",
                "channel": "in_app",
                "jurisdictions": ["ES"],
                "languages": ["es"],
                "rank": 70,
                "steps": steps(
                    [
                        "Call 017 (8:00-23:00 every day), or write on WhatsApp to "
                        "900 116 117 or on Telegram to @INCIBE017.",
                        "Say you are reporting sexual images of a minor for removal "
                        "(hotline report).",
                        "Give the exact addresses; never send the image.",
                        "Write down the reference they give you.",
                    ],
                    [
                        "Llame al 017 (de 8:00 a 23:00 todos los días), o escriba por "
                        "WhatsApp al 900 116 117 o por Telegram a @INCIBE017.",
                        "Diga que denuncia imágenes sexuales de un menor para su retirada "
                        "(línea de denuncia).",
                        "Dé las direcciones exactas; nunca envíe la imagen.",
                        "Anote la referencia que le den.",
                    ],
                ),
            },
        ],
    },
    {
        "slug": "website",
        "name": "Website or host",
        "kind": "website",
        "location_code": "web",
        "domains": [],
        "programmes": [],
        "source": "https://eur-lex.europa.eu/eli/reg/2022/2065/oj",
        "verified": CHECKED,
        "notes": "Any other site: a DSA art. 16 notice to the host's abuse or contact "
        "address, given per notice.",
        "routes": [
            {
                "name": "DSA notice by email",
                "basis": "dsa",
                "channel": "email",
                "rank": 10,
                "required": ["urls", "explanation", "good_faith"],
            },
            {
                "name": "Erasure request by email (GDPR art. 17)",
                "basis": "gdpr_erasure",
                "channel": "email",
                "rank": 30,
                "required": ["urls", "relationship", "explanation"],
            },
        ],
    },
]


def seed(apps, schema_editor):
    Platform = apps.get_model("takedowns", "Platform")
    Route = apps.get_model("takedowns", "Route")
    for spec in PLATFORMS:
        platform = Platform.objects.create(
            slug=spec["slug"],
            name=spec["name"],
            kind=spec["kind"],
            location_code=spec["location_code"],
            domains=spec["domains"],
            hash_programmes=spec["programmes"],
            languages=spec.get("languages", ALL_LANGS),
            source_url=spec["source"],
            last_verified=spec["verified"],
            notes=spec["notes"],
        )
        for route in spec["routes"]:
            Route.objects.create(
                platform=platform,
                name=route["name"],
                basis=route["basis"],
                channel=route["channel"],
                email=route.get("email", ""),
                form_url=route.get("form_url", ""),
                form_fields=route.get("form_fields", []),
                in_app_steps=route.get("steps", {}),
                eligible_jurisdictions=route.get("jurisdictions", []),
                required_elements=route.get("required", []),
                extra_demands=route.get("extra", []),
                one_item_per_report=route.get("one_item", False),
                languages=route.get("languages", spec.get("languages", ALL_LANGS)),
                deadline_hours=route.get("deadline"),
                rank=route.get("rank", 50),
                source_url=route.get("source", spec["source"]),
                last_verified=route.get("verified", spec["verified"]),
                notes=route.get("notes", ""),
            )


def unseed(apps, schema_editor):
    apps.get_model("takedowns", "Route").objects.filter(organisation=None).delete()
    apps.get_model("takedowns", "Platform").objects.filter(organisation=None).delete()


class Migration(migrations.Migration):
    dependencies = [("takedowns", "0001_registry_notices")]
    operations = [migrations.RunPython(seed, unseed)]
