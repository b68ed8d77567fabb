import NIOCore

/// SplitMix64 (Steele, Lea, Flood 2014): a small pseudo-random generator with the same sequence on every platform,
/// so that tests which draw "random" values see the same draws on every run, and a failure reproduces.
public struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    public init(seed: UInt64) { self.state = seed }

    public mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// `count` pseudo-random bytes.
    public static func bytes(_ count: Int, seed: UInt64) -> ByteBuffer {
        var generator = SplitMix64(seed: seed)
        var buffer = ByteBuffer()
        for _ in 0..<count { buffer.writeInteger(UInt8.random(in: 0...255, using: &generator)) }
        return buffer
    }
}
