from __future__ import annotations

import os
import uuid

import boto3
import pytest
from moto.server import ThreadedMotoServer

from amparo.localservices import free_port
from vault.audit import Actor


@pytest.fixture
def evidence_root(settings, tmp_path):
    """A fresh, empty evidence directory for this test."""
    root = tmp_path / "evidence"
    settings.EVIDENCE_ROOT = root
    return root


@pytest.fixture
def actor() -> Actor:
    return Actor.system("tests")


@pytest.fixture(scope="module")
def s3_endpoint():
    """A real S3 HTTP API on 127.0.0.1 (moto's server mode), with a bucket."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    os.environ["AWS_ACCESS_KEY_ID"] = "testing"
    os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"  # moto accepts any credentials
    try:
        yield endpoint
    finally:
        server.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture
def bucket(s3_endpoint, settings):
    name = f"evidence-{uuid.uuid4().hex[:12]}"
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    client.create_bucket(Bucket=name)
    settings.EVIDENCE_STORAGE = "s3"
    settings.EVIDENCE_S3_BUCKET = name
    settings.EVIDENCE_S3_ENDPOINT_URL = s3_endpoint
    settings.EVIDENCE_S3_REGION = "us-east-1"
    settings.EVIDENCE_S3_ADDRESSING_STYLE = "path"
    settings.EVIDENCE_S3_PART_SIZE = 5 * 1024 * 1024
    return client, name
