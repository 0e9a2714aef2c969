"""Pure logic: no HTTP here. Functions take validated models and raise mailrelay.errors."""
