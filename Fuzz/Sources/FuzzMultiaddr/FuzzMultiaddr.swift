import FuzzSupport
import P2PCore

/// Multiaddr text (P2PCore; the only form the package parses): any multiaddr that parses must
/// print as text that parses back to the same value.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzMultiaddr(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: data == nil ? 0 : size), as: UTF8.self)
    guard let address = try? Multiaddr(parsing: text) else { return 0 }
    let printed = address.description
    let reparsed = try? Multiaddr(parsing: printed)
    fuzzCheck(
        reparsed == address,
        "\(text.debugDescription) prints as \(printed.debugDescription), which does not parse back"
    )
    _ = address.hostText
    return 0
}
