"""Background jobs: long work asked for by a request and run by `flask jobs worker` (see worker.py)."""
