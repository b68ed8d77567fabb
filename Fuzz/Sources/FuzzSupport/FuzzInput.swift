import NIOCore

/// A fuzz input read front to back as a sequence of small decisions and byte strings, so that one
/// flat byte string drives a configuration, a split into chunks, or a script of operations. Reads
/// past the end yield zeros and empty strings: every input is a valid script.
public struct FuzzInput {
    private let bytes: [UInt8]
    private var offset: Int

    /// Wraps libFuzzer's input (copied: the targets keep slices of it in buffers).
    public init(_ start: UnsafePointer<UInt8>?, _ count: Int) {
        self.bytes = count > 0 && start != nil ? Array(UnsafeBufferPointer(start: start, count: count)) : []
        self.offset = 0
    }

    /// Wraps bytes (regression tests replay inputs this way).
    public init(_ bytes: [UInt8]) {
        self.bytes = bytes
        self.offset = 0
    }

    /// Whether everything has been read.
    public var isEmpty: Bool { self.offset >= self.bytes.count }

    /// How many bytes are left.
    public var remaining: Int { self.bytes.count - self.offset }

    /// The next byte, or 0 at the end.
    public mutating func byte() -> UInt8 {
        guard self.offset < self.bytes.count else { return 0 }
        defer { self.offset += 1 }
        return self.bytes[self.offset]
    }

    /// The next two bytes, big-endian, or 0 at the end.
    public mutating func uint16() -> UInt16 {
        UInt16(self.byte()) << 8 | UInt16(self.byte())
    }

    /// The next four bytes, big-endian.
    public mutating func uint32() -> UInt32 {
        UInt32(self.uint16()) << 16 | UInt32(self.uint16())
    }

    /// Up to `count` bytes (fewer at the end).
    public mutating func bytes(upTo count: Int) -> [UInt8] {
        let end = self.offset + min(max(count, 0), self.remaining)
        defer { self.offset = end }
        return Array(self.bytes[self.offset..<end])
    }

    /// A string of bytes prefixed by its one-byte length; 255 means "everything that is left".
    public mutating func chunk() -> [UInt8] {
        let length = Int(self.byte())
        return length == 255 ? self.rest() : self.bytes(upTo: length)
    }

    /// Everything not read yet.
    public mutating func rest() -> [UInt8] {
        self.bytes(upTo: self.remaining)
    }
}

