import NIOCore

/// Received bytes not yet consumed by TLS, held without copying whenever possible.
///
/// The bytes live either in the caller's buffer, held by reference (the common case: each read
/// holds whole records, or the rest of one), or, when a partial record is left over and more bytes
/// arrive, in one reusable buffer of our own. Either way they are contiguous. When a borrowed
/// buffer is used up the reference is dropped at once, so a caller that reuses its buffer never
/// triggers a copy-on-write.
///
/// Bounded by what the caller feeds: TLS consumes everything up to the last partial record on each
/// call, so at most one partial record plus one read's bytes are ever held.
struct TLSInboundBuffer {
    private var borrowed: ByteBuffer
    private var owned: ByteBuffer
    private var usingOwned = false
    /// Swapped in for a used-up borrowed buffer; never written to.
    private let empty: ByteBuffer

    init(allocator: ByteBufferAllocator) {
        self.empty = allocator.buffer(capacity: 0)
        self.borrowed = self.empty
        self.owned = allocator.buffer(capacity: TLSConstants.maximumRecordBytes)
    }

    /// Bytes not yet consumed.
    var readableBytes: Int { self.usingOwned ? self.owned.readableBytes : self.borrowed.readableBytes }

    /// Adds received bytes: borrowed when nothing is pending, appended (copied) otherwise.
    mutating func append(_ bytes: ByteBuffer) {
        guard bytes.readableBytes > 0 else { return }
        if self.usingOwned {
            self.owned.writeImmutableBuffer(bytes)
        } else if self.borrowed.readableBytes == 0 {
            self.borrowed = bytes
        } else {
            // A partial record is left in the caller's earlier buffer: join both in our own buffer.
            self.owned.clear()
            self.owned.writeImmutableBuffer(self.borrowed)
            self.owned.writeImmutableBuffer(bytes)
            self.borrowed = self.empty
            self.usingOwned = true
        }
    }

    /// Calls `body` with the unconsumed bytes, contiguous.
    func withReadableBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        if self.usingOwned {
            return try self.owned.withUnsafeReadableBytes(body)
        }
        return try self.borrowed.withUnsafeReadableBytes(body)
    }

    /// Marks `count` bytes (at most ``readableBytes``) as consumed.
    mutating func consume(_ count: Int) {
        if self.usingOwned {
            self.owned.moveReaderIndex(forwardBy: count)
            if self.owned.readableBytes == 0 {
                self.owned.clear()
                self.usingOwned = false
            }
        } else {
            self.borrowed.moveReaderIndex(forwardBy: count)
            if self.borrowed.readableBytes == 0 {
                // Drop our reference so the caller's buffer is unique again.
                self.borrowed = self.empty
            }
        }
    }

    /// Copies up to `count` bytes to `destination` and consumes them; returns how many.
    mutating func read(into destination: UnsafeMutableRawPointer, count: Int) -> Int {
        let n = min(count, self.readableBytes)
        guard n > 0 else { return 0 }
        self.withReadableBytes { source in
            guard let base = source.baseAddress else { return }
            destination.copyMemory(from: base, byteCount: n)
        }
        self.consume(n)
        return n
    }
}
