import ArgumentParser
import Foundation
import NIOCore
import P2PCore
import TLS
import Upgrader

/// The upgrade knobs `listen` and `dial` share.
struct UpgradeOptions: ParsableArguments {
    @Option(
        help: """
            Security protocols in preference order, comma-separated: noise, tls (default: noise to \
            dial; noise,tls to listen, every protocol this host has, as a libp2p host offers).
            """
    )
    var security: String?

    @Option(help: "Muxer negotiation: classic (multistream-select) or early (inside the handshake).")
    var negotiation: UpgradeNegotiation = .early

    @Option(help: "Upgrade timeout in milliseconds.")
    var timeoutMs: Int64 = 10_000

    @Option(help: "TLS certificates: per-host (one per host identity, as go and rust do) or per-connection.")
    var tlsCertificates: TLSCertificateMode = .perHost

    /// The configuration; `defaultSecurity` applies when `--security` was not given.
    func configuration(identity: IdentityPrivateKey, defaultSecurity: [UpgradeSecurity] = [.noise]) -> UpgradeConfiguration {
        UpgradeConfiguration(
            identity: identity,
            security: self.securityList ?? defaultSecurity,
            negotiation: self.negotiation,
            upgradeTimeout: .milliseconds(self.timeoutMs),
            tlsCertificateMode: self.tlsCertificates
        )
    }

    /// The protocols `--security` names, or nil when it was not given.
    var securityList: [UpgradeSecurity]? {
        self.security.map { text in
            text.split(separator: ",").compactMap { UpgradeSecurity(rawValue: String($0).trimmingCharacters(in: .whitespaces)) }
        }
    }

    func validate() throws {
        if let security = self.security {
            let names = security.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
            guard !names.isEmpty, names.allSatisfy({ UpgradeSecurity(rawValue: $0) != nil }) else {
                throw ValidationError("--security takes noise, tls or both comma-separated, not \"\(security)\"")
            }
        }
        guard self.timeoutMs > 0 else { throw ValidationError("--timeout-ms must be positive") }
    }
}

extension UpgradeNegotiation: ExpressibleByArgument {}
extension MultistreamMode: ExpressibleByArgument {}
extension TLSCertificateMode: ExpressibleByArgument {}

/// Parses a multiaddr, or exits with code 2 and the reason on stderr.
func parseMultiaddr(_ text: String) throws -> Multiaddr {
    do {
        return try Multiaddr(parsing: text)
    } catch {
        throw inputError("bad multiaddr: \(error)")
    }
}

/// Writes `bench: <message>` on stderr and returns exit code 2, the code for bad input (a bad
/// multiaddr, a results folder that cannot be written or read), for the caller to throw.
func inputError(_ message: String) -> ExitCode {
    FileHandle.standardError.write(Data("bench: \(message)\n".utf8))
    return ExitCode(2)
}

/// Writes `message` and a line feed on stderr.
func printError(_ message: String) {
    FileHandle.standardError.write(Data("\(message)\n".utf8))
}

/// The identity from a 32-byte hex seed, or a new random one.
func identityKey(seed: String?) throws -> IdentityPrivateKey {
    guard let seed else { return .generateEd25519() }
    var bytes: [UInt8] = []
    var index = seed.startIndex
    while index < seed.endIndex {
        let next = seed.index(index, offsetBy: 2, limitedBy: seed.endIndex) ?? seed.endIndex
        guard let byte = UInt8(seed[index..<next], radix: 16) else {
            throw ValidationError("--key-seed must be 64 hex digits")
        }
        bytes.append(byte)
        index = next
    }
    guard bytes.count == 32 else { throw ValidationError("--key-seed must be 64 hex digits (32 bytes)") }
    return try IdentityPrivateKey(ed25519Seed: bytes)
}

/// Writes `value` as one line of JSON on stdout and flushes, so a script reading the pipe sees it.
func printJSONLine(_ value: some Encodable) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    var data = try encoder.encode(value)
    data.append(UInt8(ascii: "\n"))
    FileHandle.standardOutput.write(data)
}
