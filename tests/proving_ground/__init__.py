"""The local AWS proving ground: a moto server with the pieces moto lacks.

Everything here is test infrastructure. Product code (modules, roles) never imports it: it reaches
the proving ground only through ``endpoint_url`` / ``AWS_URL``, ``AWS_CA_BUNDLE`` (its HTTPS certificate
comes from a test CA) and credentials, as it would reach AWS.
"""
