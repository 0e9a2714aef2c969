"""Sending providers behind one interface, and the chain that tries them in order."""
