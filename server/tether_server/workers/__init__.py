"""Background workers (one thread each per server process; several processes may run them)."""
