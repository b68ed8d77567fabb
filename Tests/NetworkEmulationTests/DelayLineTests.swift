import Testing

@testable import NetworkEmulation

/// The bounded queue inside the TUN delayer and the relay: order, in-place storage across the
/// ring's end, growth, and every limit.
@Suite struct DelayLineTests {
    /// Queues `bytes` due at `due`; false when the line refused it.
    @discardableResult
    private func push(_ line: DelayLine, _ bytes: [UInt8], due: UInt64) -> Bool {
        guard let space = line.reserve(bytes.count) else { return false }
        space.copyBytes(from: bytes)
        line.commit(length: bytes.count, due: due)
        return true
    }

    private func popAll(_ line: DelayLine) -> [[UInt8]] {
        var result: [[UInt8]] = []
        while let head = line.first {
            result.append(Array(line.firstBytes))
            #expect(head.length == line.firstBytes.count)
            line.removeFirst()
        }
        return result
    }

    @Test func keepsFirstInFirstOutOrderWithDeadlines() {
        let line = DelayLine(initialCapacity: 64, maximumCapacity: 64, maximumEntries: 16)
        for index in 0..<5 {
            #expect(push(line, [UInt8](repeating: UInt8(index), count: index + 1), due: UInt64(100 + index)))
        }
        #expect(line.count == 5)
        #expect(line.bufferedBytes == 15)
        #expect(line.first?.due == 100)
        let popped = popAll(line)
        #expect(popped == (0..<5).map { [UInt8](repeating: UInt8($0), count: $0 + 1) })
        #expect(line.isEmpty)
        #expect(line.bufferedBytes == 0)
    }

    @Test func wrapsAroundTheRingEndWithoutSplittingAChunk() {
        let line = DelayLine(initialCapacity: 32, maximumCapacity: 32, maximumEntries: 16)
        #expect(push(line, [UInt8](repeating: 1, count: 12), due: 1))
        #expect(push(line, [UInt8](repeating: 2, count: 12), due: 2))
        line.removeFirst()
        // 8 bytes left at the end, 12 free at the start: a 10-byte chunk must go to the start.
        #expect(push(line, [UInt8](repeating: 3, count: 10), due: 3))
        #expect(line.capacity == 32)
        #expect(popAll(line) == [[UInt8](repeating: 2, count: 12), [UInt8](repeating: 3, count: 10)])
    }

    @Test func compactsAFragmentedRingAtItsMaximumCapacity() {
        let line = DelayLine(initialCapacity: 32, maximumCapacity: 32, maximumEntries: 16)
        push(line, [UInt8](repeating: 1, count: 12), due: 1)
        push(line, [UInt8](repeating: 2, count: 12), due: 2)
        line.removeFirst()
        push(line, [UInt8](repeating: 3, count: 10), due: 3)
        // 10 bytes free in total but only 2 contiguous: the ring is compacted in place of growing.
        #expect(push(line, [UInt8](repeating: 4, count: 10), due: 4))
        #expect(line.capacity == 32)
        #expect(!push(line, [1], due: 5))
        #expect(
            popAll(line) == [
                [UInt8](repeating: 2, count: 12), [UInt8](repeating: 3, count: 10), [UInt8](repeating: 4, count: 10),
            ]
        )
    }

    @Test func growsUpToTheMaximumCapacityKeepingOrder() {
        let line = DelayLine(initialCapacity: 16, maximumCapacity: 256, maximumEntries: 64)
        var expected: [[UInt8]] = []
        for index in 0..<20 {
            let chunk = [UInt8](repeating: UInt8(index), count: 10)
            #expect(push(line, chunk, due: UInt64(index)))
            expected.append(chunk)
        }
        #expect(line.capacity <= 256)
        #expect(line.capacity >= 200)
        #expect(popAll(line) == expected)
    }

    @Test func refusesBytesBeyondTheMaximumCapacity() {
        let line = DelayLine(initialCapacity: 16, maximumCapacity: 64, maximumEntries: 64)
        #expect(push(line, [UInt8](repeating: 7, count: 60), due: 1))
        #expect(!push(line, [UInt8](repeating: 8, count: 5), due: 2))
        #expect(line.reserve(65) == nil)
        #expect(line.count == 1)
        #expect(line.capacity == 64)
    }

    @Test func refusesEntriesBeyondTheEntryLimit() {
        let line = DelayLine(initialCapacity: 1024, maximumCapacity: 1024, maximumEntries: 3)
        for index in 0..<3 {
            #expect(push(line, [UInt8(index)], due: UInt64(index)))
        }
        #expect(!push(line, [9], due: 9))
        #expect(!line.append(.endOfStream, due: 10))
        line.removeFirst()
        #expect(line.append(.endOfStream, due: 10))
    }

    @Test func partialConsumptionKeepsTheRestOfTheChunk() {
        let line = DelayLine(initialCapacity: 64, maximumCapacity: 64, maximumEntries: 8)
        push(line, [1, 2, 3, 4, 5], due: 1)
        push(line, [6, 7], due: 2)
        line.consumeFirst(2)
        #expect(Array(line.firstBytes) == [3, 4, 5])
        #expect(line.bufferedBytes == 5)
        line.consumeFirst(3)
        #expect(Array(line.firstBytes) == [6, 7])
        #expect(line.first?.due == 2)
    }

    @Test func markersTravelInOrderWithoutBytes() {
        let line = DelayLine(initialCapacity: 64, maximumCapacity: 64, maximumEntries: 8)
        push(line, [1], due: 1)
        #expect(line.append(.endOfStream, due: 2))
        line.removeFirst()
        #expect(line.first?.marker == .endOfStream)
        #expect(line.firstBytes.isEmpty)
        line.removeFirst()
        #expect(line.isEmpty)
        #expect(line.append(.reset, due: 3))
        #expect(line.first?.marker == .reset)
    }

    @Test func abandonedReservationQueuesNothing() {
        let line = DelayLine(initialCapacity: 64, maximumCapacity: 64, maximumEntries: 8)
        #expect(line.reserve(40) != nil)
        line.commit(length: 0, due: 1)
        #expect(line.isEmpty)
        #expect(push(line, [UInt8](repeating: 1, count: 64), due: 2))
    }

    /// A long random-ish run of pushes and pops never loses, duplicates or reorders bytes.
    @Test func survivesALongMixedRun() {
        let line = DelayLine(initialCapacity: 100, maximumCapacity: 1000, maximumEntries: 50)
        var model: [[UInt8]] = []
        var seed: UInt32 = 12345
        func next() -> Int {
            seed = seed &* 1_103_515_245 &+ 12345
            return Int(seed >> 16)
        }
        var counter: UInt8 = 0
        for step in 0..<5000 {
            if next() % 3 != 0 {
                counter &+= 1
                let chunk = [UInt8](repeating: counter, count: 1 + next() % 120)
                if push(line, chunk, due: UInt64(step)) {
                    model.append(chunk)
                }
            } else if !model.isEmpty {
                #expect(Array(line.firstBytes) == model.removeFirst())
                line.removeFirst()
            }
            #expect(line.count == model.count)
        }
        #expect(popAll(line) == model)
    }
}
