"""Production: responsive records within the approved scope, recipient certificates, and signed bundles."""
