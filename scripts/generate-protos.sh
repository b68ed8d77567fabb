#!/usr/bin/env bash
# Regenerates the committed swift-protobuf code from the .proto files.
#
# Needs protoc (apt: protobuf-compiler) and protoc-gen-swift built from swift-protobuf 1.39.0 (the
# version in Package.swift), e.g. `swift build -c release --product protoc-gen-swift` in a checkout.
# Pass its path in PROTOC_GEN_SWIFT, or have it on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."

plugin="${PROTOC_GEN_SWIFT:-$(command -v protoc-gen-swift || true)}"
if [ -z "$plugin" ] || [ ! -x "$plugin" ]; then
    echo "generate-protos: set PROTOC_GEN_SWIFT to a protoc-gen-swift binary (swift-protobuf 1.39.0)" >&2
    exit 1
fi

# Noise handshake payload (docs/wire.md §4.3). Internal visibility: the generated types are not API.
protoc \
    --plugin=protoc-gen-swift="$plugin" \
    --proto_path=Sources/Noise/Payload \
    --swift_out=Sources/Noise/Payload \
    --swift_opt=Visibility=Internal \
    payload.proto
