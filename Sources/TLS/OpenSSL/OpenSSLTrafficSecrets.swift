internal import COpenSSL

/// The client and server application traffic secrets of one connection (RFC 8446 §7.1), as
/// OpenSSL's key log reports them, in storage that this value alone owns.
///
/// ### Why not `[UInt8]`
/// Copies of an `Array` share its storage until one of them is written, so wiping "the" array may
/// wipe a fresh copy made by the wipe itself and leave the original bytes in the heap. Here both
/// secrets live in one allocation that is never shared: ``wipe()`` and `deinit` overwrite it with
/// `OPENSSL_cleanse` (which the optimiser may not drop, unlike a store of zeros to memory about to be
/// freed). The value is non-copyable, so the storage cannot be aliased by a copy of the value either.
///
/// The storage is allocated with the first secret, so a connection that never captures any (OpenSSL
/// record layer) allocates nothing.
struct OpenSSLTrafficSecrets: ~Copyable {
    /// The longest secret: a SHA-384 output (TLS_AES_256_GCM_SHA384); the other suites use SHA-256.
    static let maximumSecretBytes = 48

    /// Client secret at offset 0, server secret at ``maximumSecretBytes``; nil until the first store.
    private var storage: UnsafeMutableRawBufferPointer?
    private var clientCount = 0
    private var serverCount = 0

    init() {}

    deinit {
        if let storage = self.storage { Self.release(storage) }
    }

    /// Whether any secret byte is held.
    var isEmpty: Bool { self.clientCount == 0 && self.serverCount == 0 }

    /// Stores one secret given as hex digits (the NSS key log format), replacing and wiping any
    /// earlier one for the same side.
    ///
    /// - Returns: false, storing nothing, when `digits` is not an even number of hex digits of at most
    ///   twice ``maximumSecretBytes``.
    mutating func store(hexDigits digits: UnsafeBufferPointer<UInt8>, isClient: Bool) -> Bool {
        guard digits.count > 0, digits.count % 2 == 0, digits.count / 2 <= Self.maximumSecretBytes else {
            return false
        }
        let storage: UnsafeMutableRawBufferPointer
        if let existing = self.storage {
            storage = existing
        } else {
            storage = .allocate(byteCount: 2 * Self.maximumSecretBytes, alignment: 1)
            storage.initializeMemory(as: UInt8.self, repeating: 0)
            self.storage = storage
        }
        let offset = isClient ? 0 : Self.maximumSecretBytes
        let slot = UnsafeMutableRawBufferPointer(rebasing: storage[offset..<(offset + Self.maximumSecretBytes)])
        var index = 0
        while index < digits.count {
            guard let high = Self.value(ofHexDigit: digits[index]), let low = Self.value(ofHexDigit: digits[index + 1])
            else {
                OPENSSL_cleanse(slot.baseAddress, slot.count)
                if isClient { self.clientCount = 0 } else { self.serverCount = 0 }
                return false
            }
            slot[index / 2] = high << 4 | low
            index += 2
        }
        if isClient { self.clientCount = digits.count / 2 } else { self.serverCount = digits.count / 2 }
        return true
    }

    /// Calls `body` with both secrets, or returns nil without calling it unless both were stored.
    func withSecrets<Result, Failure: Error>(
        _ body: (_ client: UnsafeRawBufferPointer, _ server: UnsafeRawBufferPointer) throws(Failure) -> Result
    ) throws(Failure) -> Result? {
        guard let storage = self.storage, self.clientCount > 0, self.serverCount > 0 else { return nil }
        let base = UnsafeRawBufferPointer(storage)
        let serverStart = Self.maximumSecretBytes
        return try body(
            UnsafeRawBufferPointer(rebasing: base[0..<self.clientCount]),
            UnsafeRawBufferPointer(rebasing: base[serverStart..<(serverStart + self.serverCount)])
        )
    }

    /// Overwrites both secrets and frees their storage.
    mutating func wipe() {
        if let storage = self.storage { Self.release(storage) }
        self.storage = nil
        self.clientCount = 0
        self.serverCount = 0
    }

    private static func release(_ storage: UnsafeMutableRawBufferPointer) {
        OPENSSL_cleanse(storage.baseAddress, storage.count)
        storage.deallocate()
    }

    private static func value(ofHexDigit digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): digit - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
