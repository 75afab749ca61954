"""The Cloud Storage data plane (objects) for end-to-end tests: ``gcp-storage-emulator``, in memory.

The GCP emulator of this package serves bucket metadata only (the control plane the roles manage);
an MLflow server that stores artifacts in ``gs://`` needs objects. ``LocalGcs`` runs
gcp-storage-emulator in a thread of the test process on ``127.0.0.1:<free port>``, plain HTTP, in
memory. Google's client libraries reach it through ``STORAGE_EMULATOR_HOST`` (they then use anonymous
credentials and take the project from ``GOOGLE_CLOUD_PROJECT``): ``environment`` is what a child
process (``mlflow server``) needs, ``client()`` a ``google.cloud.storage.Client`` for the test itself.

    gcs = LocalGcs(project="mlops-test").start()
    gcs.ensure_bucket("mlflow-artifacts")
    ... run something with gcs.environment ...
    assert gcs.object_names("mlflow-artifacts", "team/mlflow")
    gcs.stop()

What it does not do: authentication, IAM, retention or lifecycle rules (the control-plane emulator
holds those settings), XML API presigned URLs. The server answers one request at a time.
"""

from __future__ import annotations

import io
import logging
import time
import urllib.error
import urllib.request
from typing import Iterator, List, Optional

LOOPBACK = "127.0.0.1"


def _free_port() -> int:
    import socket  # pylint: disable=import-outside-toplevel

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return probe.getsockname()[1]


class LocalGcs:
    """gcp-storage-emulator on 127.0.0.1:<port> (0: a free one), objects in memory."""

    def __init__(self, project: str = "mlops-test", project_number: str = "123456789012", port: int = 0):
        self.project = project
        self.project_number = project_number
        self.requested_port = port
        self.port: Optional[int] = None
        self._server = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def environment(self) -> dict:
        """What makes google-cloud-storage in a child process use this emulator (anonymous credentials)."""
        return {"STORAGE_EMULATOR_HOST": self.url, "GOOGLE_CLOUD_PROJECT": self.project}

    def start(self) -> "LocalGcs":
        from gcp_storage_emulator.server import create_server  # pylint: disable=import-outside-toplevel

        if self._server is not None:
            raise RuntimeError("this storage emulator is already started")
        # Its request log is one INFO line per request: keep it out of test output unless asked for.
        logging.getLogger("gcp_storage_emulator").setLevel(logging.WARNING)
        self.port = self.requested_port or _free_port()
        self._server = create_server(LOOPBACK, self.port, in_memory=True, project_number=self.project_number)
        self._server.start()
        self._wait_until_answering()
        return self

    def _wait_until_answering(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        while True:
            try:
                with opener.open(f"{self.url}/storage/v1/b?project={self.project}", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.05)

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.stop()

    def wipe(self) -> None:
        """Forget every bucket and object."""
        if self._server is not None:
            self._server.wipe()

    def __enter__(self) -> "LocalGcs":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # what a test does with it
    def client(self):
        """A google.cloud.storage.Client bound to this emulator, whatever this process's environment says."""
        from google.auth.credentials import AnonymousCredentials  # pylint: disable=import-outside-toplevel
        from google.cloud import storage  # pylint: disable=import-outside-toplevel

        return storage.Client(project=self.project, credentials=AnonymousCredentials(), client_options={"api_endpoint": self.url})

    def ensure_bucket(self, name: str) -> None:
        """Create the bucket unless it exists."""
        client = self.client()
        if client.lookup_bucket(name) is None:
            client.create_bucket(name)

    def bucket_names(self) -> List[str]:
        return sorted(bucket.name for bucket in self.client().list_buckets())

    def object_names(self, bucket: str, prefix: str = "") -> List[str]:
        """Every object name in ``bucket`` under ``prefix`` (a folder: ``prefix/``; empty: all)."""
        folder = prefix.strip("/") + "/" if prefix.strip("/") else ""
        return sorted(blob.name for blob in self.client().list_blobs(bucket, prefix=folder or None))

    def read(self, bucket: str, name: str) -> bytes:
        return self.client().bucket(bucket).blob(name).download_as_bytes()

    def s3_view(self) -> "GcsAsS3":
        """The few S3 client calls helpers.mlflow_runs makes, answered from this emulator."""
        return GcsAsS3(self.client())


class GcsAsS3:
    """A stand-in for the three S3 client calls ``helpers.mlflow_runs`` makes to check artifacts in a
    bucket (the ``list_objects_v2`` paginator, ``get_object``, ``head_object``), answered from a GCS
    bucket through google-cloud-storage, so that ``exercise_mlflow`` checks ``gs://`` artifacts as it
    checks ``s3://`` ones. Nothing else of boto3's S3 client is there."""

    def __init__(self, client):
        self.client = client

    def get_paginator(self, operation: str) -> "GcsAsS3":
        if operation != "list_objects_v2":
            raise NotImplementedError(f"GcsAsS3 pages list_objects_v2 only, not {operation}")
        return self

    def paginate(self, **request) -> Iterator[dict]:
        blobs = self.client.list_blobs(request["Bucket"], prefix=request.get("Prefix") or None)
        yield {"Contents": [{"Key": blob.name, "Size": blob.size} for blob in blobs]}

    def get_object(self, **request) -> dict:
        data = self.client.bucket(request["Bucket"]).blob(request["Key"]).download_as_bytes()
        return {"Body": io.BytesIO(data), "ContentLength": len(data)}

    def head_object(self, **request) -> dict:
        blob = self.client.bucket(request["Bucket"]).get_blob(request["Key"])
        if blob is None:
            raise KeyError(f"gs://{request['Bucket']}/{request['Key']} does not exist")
        return {"ContentLength": blob.size}


__all__ = ["GcsAsS3", "LocalGcs"]
