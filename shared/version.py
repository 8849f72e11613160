"""The version of bookbridge reported by the health endpoint."""
VERSION = "0.1.0"
