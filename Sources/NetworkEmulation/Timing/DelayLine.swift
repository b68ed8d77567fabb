/// A bounded FIFO of byte chunks, each with the deadline at which it is due: the queue inside
/// the TUN delayer (one chunk per IP packet) and the relay (one chunk per read).
///
/// Chunks are stored back to back in one ring of bytes and never straddle its end, so a chunk
/// can be read into and written from in place, without copying: ``reserve(_:)`` hands out
/// contiguous space, the caller reads a packet into it, and ``commit(length:due:)`` queues it.
/// The ring starts small and doubles up to `maximumCapacity`; past that, and past
/// `maximumEntries`, ``reserve(_:)`` returns `nil` and the caller drops the packet (TUN: a
/// router's tail drop) or stops reading its source (relay: TCP back-pressure).
///
/// Not thread-safe: each instance belongs to one emulator thread.
final class DelayLine {
    /// What a queued entry stands for.
    enum Marker: UInt8, Hashable, Sendable {
        /// `length` bytes of payload.
        case data
        /// The source half-closed its side (relay only): shut down the destination's write side.
        case endOfStream
        /// The source failed or reset (relay only): reset the destination.
        case reset
    }

    /// One queued chunk.
    struct Entry: Hashable, Sendable {
        /// Where the (remaining) bytes start in the ring.
        fileprivate(set) var offset: Int
        /// How many bytes remain; 0 for markers.
        fileprivate(set) var length: Int
        /// When the entry is due, in `CLOCK_MONOTONIC` nanoseconds.
        let due: UInt64
        let marker: Marker
    }

    private var storage: UnsafeMutableRawBufferPointer
    private let maximumCapacity: Int
    private let maximumEntries: Int
    private var entries: [Entry] = []
    private var head = 0
    /// Offset just past the newest entry's bytes.
    private var writeOffset = 0
    /// True when the newest entries sit at the start of the ring and the oldest at its end.
    private var wrapped = false
    /// Offset handed out by the last ``reserve(_:)`` and its length, until ``commit(length:due:)``.
    private var reservation: (offset: Int, length: Int)?

    /// Payload bytes queued (markers count zero).
    private(set) var bufferedBytes = 0

    /// - Parameters:
    ///   - initialCapacity: bytes allocated at first.
    ///   - maximumCapacity: bytes the ring may grow to.
    ///   - maximumEntries: chunks that may be queued at once.
    init(initialCapacity: Int, maximumCapacity: Int, maximumEntries: Int) {
        precondition(
            initialCapacity > 0 && initialCapacity <= maximumCapacity && maximumEntries > 0,
            "DelayLine limits: initial \(initialCapacity), maximum \(maximumCapacity), entries \(maximumEntries)"
        )
        self.storage = .allocate(byteCount: initialCapacity, alignment: 16)
        self.maximumCapacity = maximumCapacity
        self.maximumEntries = maximumEntries
        self.entries.reserveCapacity(min(maximumEntries, 1024))
    }

    deinit {
        self.storage.deallocate()
    }

    /// Bytes currently allocated for the ring.
    var capacity: Int { self.storage.count }

    /// Entries queued.
    var count: Int { self.entries.count - self.head }

    var isEmpty: Bool { self.head == self.entries.count }

    /// The oldest entry, if any.
    var first: Entry? { self.isEmpty ? nil : self.entries[self.head] }

    /// The remaining bytes of the oldest entry (empty for markers or when nothing is queued).
    var firstBytes: UnsafeRawBufferPointer {
        guard let entry = self.first, entry.length > 0 else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(rebasing: self.storage[entry.offset..<(entry.offset + entry.length)])
    }

    /// Contiguous space for `length` bytes at the tail, growing the ring if needed and allowed;
    /// `nil` when the limits are reached. Fill a prefix of it, then call ``commit(length:due:)``.
    func reserve(_ length: Int) -> UnsafeMutableRawBufferPointer? {
        precondition(length > 0, "DelayLine.reserve(\(length))")
        guard self.count < self.maximumEntries else { return nil }
        if let offset = self.contiguousOffset(for: length) ?? self.growAndFindOffset(for: length) {
            self.reservation = (offset, length)
            return UnsafeMutableRawBufferPointer(rebasing: self.storage[offset..<(offset + length)])
        }
        return nil
    }

    /// Queues the first `length` bytes of the last reservation, due at `due`. A `length` of 0
    /// abandons the reservation.
    func commit(length: Int, due: UInt64) {
        guard let reservation = self.reservation else {
            preconditionFailure("DelayLine.commit without a reservation")
        }
        precondition(
            length >= 0 && length <= reservation.length,
            "DelayLine.commit(\(length)) of \(reservation.length)"
        )
        self.reservation = nil
        guard length > 0 else { return }
        if !self.isEmpty && !self.wrapped && reservation.offset < self.writeOffset {
            self.wrapped = true
        }
        self.entries.append(Entry(offset: reservation.offset, length: length, due: due, marker: .data))
        self.writeOffset = reservation.offset + length
        self.bufferedBytes += length
    }

    /// Queues a marker (no payload) due at `due`; `false` when the entry limit is reached.
    func append(_ marker: Marker, due: UInt64) -> Bool {
        precondition(marker != .data, "DelayLine.append(.data): use reserve and commit")
        guard self.count < self.maximumEntries else { return false }
        if self.isEmpty {
            self.resetOffsets()
        }
        self.entries.append(Entry(offset: self.writeOffset, length: 0, due: due, marker: marker))
        return true
    }

    /// Drops `byteCount` bytes from the front of the oldest entry (a partial write), removing
    /// the entry when nothing is left of it.
    func consumeFirst(_ byteCount: Int) {
        guard let entry = self.first, entry.marker == .data, byteCount > 0, byteCount <= entry.length else {
            preconditionFailure("DelayLine.consumeFirst(\(byteCount)) of \(String(describing: self.first))")
        }
        if byteCount == entry.length {
            self.removeFirst()
        } else {
            self.entries[self.head].offset += byteCount
            self.entries[self.head].length -= byteCount
            self.bufferedBytes -= byteCount
        }
    }

    /// Removes the oldest entry.
    func removeFirst() {
        guard let removed = self.first else { preconditionFailure("DelayLine.removeFirst on an empty line") }
        self.bufferedBytes -= removed.length
        self.head += 1
        if self.isEmpty {
            self.entries.removeAll(keepingCapacity: true)
            self.head = 0
            self.resetOffsets()
            return
        }
        // Crossing from the ring's end back to its start: the rest no longer wraps.
        if self.wrapped && self.entries[self.head].offset < removed.offset {
            self.wrapped = false
        }
        // Compact the entry array now and then; removeFirst(_:) shifts in place, it does not allocate.
        if self.head >= 4096 && self.head * 2 >= self.entries.count {
            self.entries.removeFirst(self.head)
            self.head = 0
        }
    }

    // MARK: - Space management

    private func resetOffsets() {
        self.writeOffset = 0
        self.wrapped = false
    }

    /// Where `length` bytes fit contiguously without growing, if anywhere.
    private func contiguousOffset(for length: Int) -> Int? {
        guard let oldest = self.first else {
            self.resetOffsets()
            return length <= self.storage.count ? 0 : nil
        }
        let readOffset = oldest.offset
        if self.wrapped {
            // Free space is the gap between the newest (at the start) and the oldest entry.
            return readOffset - self.writeOffset >= length ? self.writeOffset : nil
        }
        if self.storage.count - self.writeOffset >= length {
            return self.writeOffset
        }
        // Wrap to the start when the space before the oldest entry is large enough.
        return readOffset >= length ? 0 : nil
    }

    private func growAndFindOffset(for length: Int) -> Int? {
        let needed = self.bufferedBytes + length
        guard needed <= self.maximumCapacity else { return nil }
        var newCapacity = self.storage.count
        while newCapacity < needed * 2 && newCapacity < self.maximumCapacity {
            newCapacity = min(newCapacity * 2, self.maximumCapacity)
        }
        guard newCapacity > self.storage.count || self.storage.count - self.bufferedBytes >= length else {
            return nil
        }
        // Move the queued bytes to the start of a new ring, oldest first.
        let newStorage = UnsafeMutableRawBufferPointer.allocate(byteCount: newCapacity, alignment: 16)
        var offset = 0
        for index in self.head..<self.entries.count {
            let entry = self.entries[index]
            if entry.length > 0 {
                newStorage.baseAddress!.advanced(by: offset)
                    .copyMemory(from: self.storage.baseAddress!.advanced(by: entry.offset), byteCount: entry.length)
            }
            self.entries[index].offset = offset
            offset += entry.length
        }
        self.storage.deallocate()
        self.storage = newStorage
        self.writeOffset = offset
        self.wrapped = false
        return self.storage.count - offset >= length ? offset : nil
    }
}
