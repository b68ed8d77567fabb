import Benchmark
import NIOCore
import P2PCore

/// Unsigned varint encode and decode on a reused ByteBuffer: the steady state must not allocate.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .mallocCountTotal],
        timeUnits: .nanoseconds,
        maxDuration: .seconds(2),
        maxIterations: 1_000_000
    )

    // 1000 values per iteration (so times are per 1000 varints), spread over every encoded length
    // from 1 to 9 bytes.
    let values: [UInt64] = (0..<1000).map { index in
        let bits = UInt64(index % 63) + 1
        return (UInt64(1) << (bits - 1)) | UInt64(index)
    }

    Benchmark("Varint.encode.x1000") { benchmark in
        var buffer = ByteBufferAllocator().buffer(capacity: 16 * 1024)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            buffer.clear()
            for value in values {
                buffer.writeUVarint(value)
            }
            blackHole(buffer.writerIndex)
        }
    }

    Benchmark("Varint.decode.x1000") { benchmark in
        var encoded = ByteBufferAllocator().buffer(capacity: 16 * 1024)
        for value in values { encoded.writeUVarint(value) }
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            var reader = encoded
            var sum: UInt64 = 0
            while let value = try reader.readUVarint() {
                sum &+= value
            }
            blackHole(sum)
        }
    }
}
