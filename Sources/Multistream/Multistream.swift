// The Multistream module; see README.md for its place in the upgrade.
