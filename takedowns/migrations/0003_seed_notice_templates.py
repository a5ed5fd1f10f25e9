"""Version 1 of the notice templates, in Spanish and English, one per legal basis.

Bodies are Django templates over the notice's elements (takedowns.builder); the
fixed legal wording sits in `statements`, so an operator can correct it in the admin
(a new version) without a deploy. Elements follow LEGAL.md.
"""

from django.db import migrations

URLS_EN = "Exact location of the content:\n{{ urls }}\n"
URLS_ES = "Ubicación exacta del contenido:\n{{ urls }}\n"

EXPLANATION = {
    "en": {
        "explanation_minor": (
            "The content is a sexualised image of a child aged {{ age }}, made by "
            "artificial intelligence from ordinary photographs. Realistic sexual images "
            "of a minor are child sexual abuse material even when fabricated (Directive "
            "2011/93/EU arts. 2(c)(iv) and 5; Spanish Penal Code art. 189.1.d), and "
            "spreading them without consent is an offence (art. 197.7). The child and "
            "the family did not consent to it being made or shared."
        ),
        "explanation_adult": (
            "The content is a fabricated sexual image of a real person, made by "
            "artificial intelligence from ordinary photographs and shared without "
            "consent (Spanish Penal Code art. 197.7; art. 173.1)."
        ),
        "good_faith": (
            "I state in good faith that the information and allegations in this notice "
            "are accurate and complete."
        ),
        "non_consent": (
            "I state in good faith that the depiction is not consensual: it is a "
            "fabricated intimate image of {{ person }}, made and published without "
            "consent."
        ),
        "relationship": "{{ relationship }}",
        "identity_withheld": (
            "As this notice concerns an offence under arts. 3 to 7 of Directive "
            "2011/93/EU, the notifier's name and email are not given (DSA art. 16(2)(c)). "
            "Reply through the case inbox below."
        ),
    },
    "es": {
        "explanation_minor": (
            "El contenido es una imagen sexualizada de una persona menor de {{ age }}, "
            "creada con inteligencia artificial a partir de fotografías corrientes. Las "
            "imágenes sexuales realistas de un menor son material de abuso sexual "
            "infantil aunque sean falsas (Directiva 2011/93/UE, arts. 2.c.iv y 5; Código "
            "Penal, art. 189.1.d), y su difusión sin consentimiento es delito "
            "(art. 197.7). Ni la menor ni su familia consintieron su creación ni su "
            "difusión."
        ),
        "explanation_adult": (
            "El contenido es una imagen sexual falsa de una persona real, creada con "
            "inteligencia artificial a partir de fotografías corrientes y difundida sin "
            "su consentimiento (Código Penal, arts. 197.7 y 173.1)."
        ),
        "good_faith": (
            "Declaro de buena fe que la información y las alegaciones de esta "
            "notificación son exactas y completas."
        ),
        "non_consent": (
            "Declaro de buena fe que la imagen no es consentida: es una imagen íntima "
            "falsa de {{ person }}, creada y publicada sin su consentimiento."
        ),
        "relationship": "{{ relationship }}",
        "identity_withheld": (
            "Al tratarse de un delito de los arts. 3 a 7 de la Directiva 2011/93/UE, no "
            "se facilitan el nombre ni el correo de quien notifica (RSD, art. 16.2.c). "
            "Responda a través del buzón del caso indicado abajo."
        ),
    },
}

NOTIFIER = {
    "en": "{% if notifier_name %}Notifier: {{ notifier_name }} <{{ notifier_email }}>\n"
    "{% else %}{{ identity_withheld }}\n{% endif %}",
    "es": "{% if notifier_name %}Notificante: {{ notifier_name }} <{{ notifier_email }}>\n"
    "{% else %}{{ identity_withheld }}\n{% endif %}",
}

TEMPLATES = {
    "dsa": {
        "en": (
            "Notice of illegal content — {{ platform }} — ref. {{ reference }}",
            "To {{ platform }}:\n\nThis is a notice under Article 16 of the EU Digital "
            "Services Act (Regulation (EU) 2022/2065).\n\n" + URLS_EN + "\n"
            "Why the content is illegal:\n{{ explanation }}\n\n" + NOTIFIER["en"] + "\n"
            "{{ good_faith }}\n\nPlease confirm receipt and tell us your decision "
            "(art. 16(4)-(5)) at: {{ contact }}\n\n{{ organisation }}\n{{ date }}\n",
        ),
        "es": (
            "Notificación de contenido ilícito — {{ platform }} — ref. {{ reference }}",
            "A {{ platform }}:\n\nEsta es una notificación conforme al artículo 16 del "
            "Reglamento de Servicios Digitales de la UE (Reglamento (UE) 2022/2065).\n\n"
            + URLS_ES
            + "\nPor qué el contenido es ilícito:\n{{ explanation }}\n\n"
            + NOTIFIER["es"]
            + "\n{{ good_faith }}\n\nLes rogamos acusen recibo y nos "
            "comuniquen su decisión (art. 16.4 y 16.5) en: {{ contact }}\n\n"
            "{{ organisation }}\n{{ date }}\n",
        ),
    },
    "take_it_down": {
        "en": (
            "TAKE IT DOWN Act removal request — {{ platform }} — ref. {{ reference }}",
            "To {{ platform }}:\n\nThis is a removal request under the TAKE IT DOWN Act "
            "(Pub. L. 119-12). You must remove the depiction, and make reasonable "
            "efforts to remove known identical copies, within 48 hours.\n\n"
            "Identification of the depiction:\n{{ identification }}\n\n" + URLS_EN + "\n"
            "{{ non_consent }}\n\n{{ relationship }}\n\nSignature of the authorised "
            "person: {{ signature }}\n\nContact: {{ contact }}\n\n{{ organisation }}\n"
            "{{ date }}\n",
        ),
        "es": (
            "Solicitud de retirada (TAKE IT DOWN Act) — {{ platform }} — ref. {{ reference }}",
            "A {{ platform }}:\n\nEsta es una solicitud de retirada conforme a la ley "
            "estadounidense TAKE IT DOWN Act (Pub. L. 119-12). Deben retirar la imagen, y "
            "hacer esfuerzos razonables para retirar las copias idénticas conocidas, en "
            "48 horas.\n\nIdentificación de la imagen:\n{{ identification }}\n\n"
            + URLS_ES
            + "\n{{ non_consent }}\n\n{{ relationship }}\n\nFirma de la persona "
            "autorizada: {{ signature }}\n\nContacto: {{ contact }}\n\n{{ organisation }}\n"
            "{{ date }}\n",
        ),
    },
    "aepd": {
        "en": (
            "Canal Prioritario filing — ref. {{ reference }}",
            "To the Spanish Data Protection Agency (AEPD), Canal Prioritario:\n\n"
            "We ask for the urgent removal of sexual images spread without consent.\n\n"
            + URLS_EN
            + "\nCircumstances:\n{{ circumstances }}\n\nMeans of spread:\n"
            "{{ means_of_spread }}\n\nPolice or court actions:\n{{ prior_actions }}\n\n"
            "Vulnerability:\n{{ vulnerabilities }}\n\nRequests already made to the "
            "platforms:\n{{ platform_attempts }}\n\nContact: {{ contact }}\n\n"
            "{{ organisation }}\n{{ date }}\n",
        ),
        "es": (
            "Comunicación al Canal Prioritario — ref. {{ reference }}",
            "A la Agencia Española de Protección de Datos (AEPD), Canal Prioritario:\n\n"
            "Solicitamos la retirada urgente de imágenes de contenido sexual difundidas "
            "sin consentimiento.\n\n" + URLS_ES + "\nCircunstancias:\n{{ circumstances }}"
            "\n\nMedios de difusión:\n{{ means_of_spread }}\n\nActuaciones policiales o "
            "judiciales:\n{{ prior_actions }}\n\nSituación de vulnerabilidad:\n"
            "{{ vulnerabilities }}\n\nSolicitudes ya hechas a las plataformas:\n"
            "{{ platform_attempts }}\n\nContacto: {{ contact }}\n\n{{ organisation }}\n"
            "{{ date }}\n",
        ),
    },
    "gdpr_erasure": {
        "en": (
            "Erasure request (GDPR art. 17) — {{ platform }} — ref. {{ reference }}",
            "To {{ platform }}:\n\nWe request the erasure without undue delay of personal "
            "data under Article 17 of the GDPR, including art. 17(1)(f): the data of a "
            "child, who merits specific protection (recital 65).\n\n" + URLS_EN + "\n"
            "{{ relationship }}\n\nReason:\n{{ explanation }}\n\nContact: {{ contact }}\n\n"
            "{{ organisation }}\n{{ date }}\n",
        ),
        "es": (
            "Solicitud de supresión (RGPD, art. 17) — {{ platform }} — ref. {{ reference }}",
            "A {{ platform }}:\n\nSolicitamos la supresión sin dilación indebida de datos "
            "personales conforme al artículo 17 del RGPD, incluido el art. 17.1.f: datos "
            "de una persona menor, que merece protección específica (considerando 65)."
            "\n\n" + URLS_ES + "\n{{ relationship }}\n\nMotivo:\n{{ explanation }}\n\n"
            "Contacto: {{ contact }}\n\n{{ organisation }}\n{{ date }}\n",
        ),
    },
    "search_delisting": {
        "en": (
            "De-listing request — {{ platform }} — ref. {{ reference }}",
            "To {{ platform }}:\n\nPlease remove these addresses from your search results "
            "(GDPR art. 17; the child's heightened protection, recital 65).\n\n"
            + URLS_EN
            + "\n{{ relationship }}\n\nReason:\n{{ explanation }}\n\nContact: {{ contact }}"
            "\n\n{{ organisation }}\n{{ date }}\n",
        ),
        "es": (
            "Solicitud de desindexación — {{ platform }} — ref. {{ reference }}",
            "A {{ platform }}:\n\nLes rogamos retiren estas direcciones de sus resultados "
            "de búsqueda (RGPD, art. 17; protección reforzada del menor, considerando 65)."
            "\n\n" + URLS_ES + "\n{{ relationship }}\n\nMotivo:\n{{ explanation }}\n\n"
            "Contacto: {{ contact }}\n\n{{ organisation }}\n{{ date }}\n",
        ),
    },
    "policy": {
        "en": (
            "Report of content breaking your rules — {{ platform }} — ref. {{ reference }}",
            "To {{ platform }}:\n\nThis content breaks your rules on non-consensual "
            "intimate imagery and the sexualisation of minors.\n\n" + URLS_EN + "\n"
            "{{ explanation }}\n\nContact: {{ contact }}\n\n{{ organisation }}\n{{ date }}\n",
        ),
        "es": (
            "Denuncia de contenido contrario a sus normas — {{ platform }} — ref. {{ reference }}",
            "A {{ platform }}:\n\nEste contenido incumple sus normas sobre imágenes "
            "íntimas no consentidas y sexualización de menores.\n\n" + URLS_ES + "\n"
            "{{ explanation }}\n\nContacto: {{ contact }}\n\n{{ organisation }}\n{{ date }}\n",
        ),
    },
    "hotline": {
        "en": (
            "Hotline report — ref. {{ reference }}",
            "To the hotline:\n\nWe report suspected child sexual abuse material for "
            "removal. We hold no copy of it.\n\n" + URLS_EN + "\n{{ explanation }}\n\n"
            "Contact: {{ contact }}\n\n{{ organisation }}\n{{ date }}\n",
        ),
        "es": (
            "Denuncia a la línea de ayuda — ref. {{ reference }}",
            "A la línea de denuncia:\n\nDenunciamos presunto material de abuso sexual "
            "infantil para su retirada. No conservamos ninguna copia.\n\n" + URLS_ES + "\n"
            "{{ explanation }}\n\nContacto: {{ contact }}\n\n{{ organisation }}\n{{ date }}\n",
        ),
    },
}


def seed(apps, schema_editor):
    NoticeTemplate = apps.get_model("takedowns", "NoticeTemplate")
    for basis, languages in TEMPLATES.items():
        for language, (subject, body) in languages.items():
            NoticeTemplate.objects.create(
                basis=basis,
                language=language,
                version=1,
                subject=subject,
                body=body,
                statements=EXPLANATION[language],
                is_current=True,
            )


def unseed(apps, schema_editor):
    apps.get_model("takedowns", "NoticeTemplate").objects.filter(version=1).delete()


class Migration(migrations.Migration):
    dependencies = [("takedowns", "0002_seed_registry")]
    operations = [migrations.RunPython(seed, unseed)]
