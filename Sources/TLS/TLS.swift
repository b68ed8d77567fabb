// The TLS module; see README.md for its place in the upgrade.
