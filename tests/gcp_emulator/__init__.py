"""A local emulator of the Google Cloud APIs the GCP roles use, for tests without a cloud account.

Clients talk to the real URLs (``https://run.googleapis.com/v2/...``) through a local
TLS-terminating HTTPS proxy (``proxy.py``) that answers for the emulated hosts only, with
certificates of a test CA. Every request is routed and validated from Google's own discovery
documents (``discovery.py``), handled by a generic engine (``engine.py``) with small per-API
behaviours (``apis.py``), and logged. ``server.launch()`` starts it in a child process; see
docs/proving-ground.md ("GCP") for what it emulates and what it does not.
"""
