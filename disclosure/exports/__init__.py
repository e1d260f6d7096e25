"""Export bundles (format disclosure-bundle/1): the signing PKI, the builder and the stand-alone verifier.

Nothing is imported here on purpose: `disclosure.exports.bundle_cli` must stay importable with only the
standard library and `cryptography`.
"""
