"""Every collector, one module each, registered by name in the order they appear."""
