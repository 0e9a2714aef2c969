"""mailrelay: the shared package of the relay's Lambda functions (built by SAM into the common layer)."""
