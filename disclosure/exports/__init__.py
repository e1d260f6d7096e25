"""Export bundles (format disclosure-bundle/1): the signing PKI and the builder.

The recipient's side (the format's names, the verifier and the `disclosure-bundle` command) lives in the
top-level package disclosure_proofs, which needs only the standard library and `cryptography`.
"""
