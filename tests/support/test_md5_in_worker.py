"""The worker's file task fills in the MD5 that evidence uploads leave out."""

import hashlib
import os

import pytest

pytestmark = pytest.mark.django_db


def test_the_evidence_task_fills_md5_for_a_file_that_is_not_an_image(settings, tmp_path):
    from support import members
    from support.models import ContextFile, OutboxMessage
    from support.tasks import process_evidence
    from tests.factories import make_case
    from vault.audit import Actor
    from vault.models import Blob
    from vault.services import BlobWriter, _create_blob

    settings.EVIDENCE_ROOT = tmp_path / "evidence"
    org = members.create_organisation(name="Grupo", actor=Actor.system("tests"))
    data = b"chat export\n" + os.urandom(300_000)
    writer = BlobWriter(md5=False)  # as the upload handler writes it
    writer.write(data)
    writer.close()
    blob = _create_blob(writer, actor=Actor.system("tests"), filename="chat.txt", content_type="")
    assert blob.md5 == ""
    context_file = ContextFile.objects.create(case=make_case(org), blob=blob)
    row = OutboxMessage.objects.create(task="support.process_evidence", kwargs={})

    process_evidence(outbox_id=str(row.uuid), file=str(context_file.uuid))

    blob = Blob.objects.get(pk=blob.pk)
    assert blob.md5 == hashlib.md5(data, usedforsecurity=False).hexdigest()
    assert blob.image_rejection == "not-an-image"  # and the image step still ran
