"""The verification library: RFC 9162 Merkle trees and tiles, C2SP signed notes, DER/CMS and BagIt bundles.

Imported by the server, by `flask audit verify` and by the stand-alone `disclosure-bundle` command alike, so
there is one copy of every rule a verifier applies. Invariant: it imports only the Python standard library and
`cryptography` (never Flask, SQLAlchemy or the disclosure package); tests/proofs checks that with `ast`.
"""
