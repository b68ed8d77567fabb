// The Yamux module; see README.md for its place in the upgrade.
