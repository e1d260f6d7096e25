"""The policy: its vocabulary, the versioned policy file, the request document and the pure rules engine."""
