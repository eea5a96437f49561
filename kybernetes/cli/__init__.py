"""The kybernetes command line."""
