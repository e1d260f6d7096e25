"""Backup and restore: a consistent snapshot of the database, the files at rest, the checkpoints and the keys.

`flask backup create|restore` (cli.py) call the service (service.py); the keys travel encrypted to a passphrase
(keyfile.py); what data the keys protect is counted in one place (inventory.py), which `flask keys init` asks
before it creates anything.
"""
