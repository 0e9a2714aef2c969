"""Sending providers behind one interface, the chain that tries them in order, and how this deployment wires them
(`configured`: order, Mailgun's key and region, the circuit breaker - all from the environment and the secret)."""
