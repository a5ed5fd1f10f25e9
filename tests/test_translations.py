"""Spanish is complete: every catalogue entry is translated and compiled, and the
pages that exist show no English source string when rendered in Spanish."""

import ast
import gettext
import re
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from support.members import invite_member
from support.models import Role
from tests.factories import client_for

ROOT = Path(__file__).resolve().parent.parent
CATALOGUES = sorted((ROOT / "locale" / "es" / "LC_MESSAGES").glob("*.po"))


def parse_po(path: Path) -> list[dict]:
    """A small .po reader: msgid, msgstr (or msgstr[n]) and flags of each entry."""
    entries, current, field = [], None, None
    for line in [*path.read_text().splitlines(), ""]:
        if not line.strip():
            if current and current.get("msgid"):
                entries.append(current)
            current, field = None, None
            continue
        current = current or {"flags": "", "msgid": "", "msgstr": ""}
        if line.startswith("#,"):
            current["flags"] += line
        elif line.startswith("#"):
            continue
        else:
            match = re.match(r'^(msgid_plural|msgid|msgstr(?:\[\d\])?)\s+(".*")$', line)
            if match:
                field = "msgstr" if match.group(1).startswith("msgstr") else match.group(1)
                current[field] = current.get(field, "") + ast.literal_eval(match.group(2))
            elif line.startswith('"') and field:
                current[field] += ast.literal_eval(line)
    return entries


def spanish_entries():
    return [e for po in CATALOGUES for e in parse_po(po)]


def test_there_is_a_spanish_catalogue():
    assert len(spanish_entries()) > 50


def test_every_spanish_entry_is_translated_and_not_fuzzy():
    missing = [e["msgid"] for e in spanish_entries() if not e["msgstr"] or "fuzzy" in e["flags"]]
    assert missing == []


def test_the_compiled_catalogue_matches_its_source():
    for po in CATALOGUES:
        with open(po.with_suffix(".mo"), "rb") as fh:
            compiled = gettext.GNUTranslations(fh)._catalog
        for entry in parse_po(po):
            if "msgid_plural" not in entry:
                assert compiled.get(entry["msgid"]) == entry["msgstr"], entry["msgid"]


def english_sources() -> set[str]:
    """Source strings long enough to be unmistakable and different in Spanish."""
    from django.utils.html import escape

    return {
        escape(e["msgid"])
        for e in spanish_entries()
        if len(e["msgid"]) >= 12 and e["msgid"] != e["msgstr"] and "%(" not in e["msgid"]
    }


def assert_all_spanish(html: str):
    leaked = sorted(s for s in english_sources() if s in html)
    assert leaked == []


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/", "/safety/", "/help/", "/accounts/login/", "/no-such-page/"])
def test_public_pages_show_no_english_in_spanish(path):
    assert_all_spanish(Client(HTTP_ACCEPT_LANGUAGE="es").get(path).content.decode())


@pytest.mark.django_db
def test_staff_pages_show_no_english_in_spanish(org_admin, org_x):
    client = client_for(org_admin)
    invite_member(actor=org_admin, email="nueva@example.org", role=Role.CASEWORKER)
    for url in [
        reverse("support:org-home", args=[org_x.uuid]),
        reverse("support:members", args=[org_x.uuid]),
        reverse("mfa_index"),
    ]:
        response = client.get(url, HTTP_ACCEPT_LANGUAGE="es")
        assert response.status_code == 200
        assert_all_spanish(response.content.decode())
