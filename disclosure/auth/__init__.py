"""Staff accounts: sign-in with argon2id and TOTP, server-side sessions, roles, and user administration."""
