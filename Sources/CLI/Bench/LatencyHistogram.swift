/// Latencies in microseconds, in log-linear buckets: exact below 64 µs, then 32 buckets per power of two (about
/// 3% resolution), up to about 18 minutes. Recording is O(1) and allocation-free; percentiles are read at the end.
struct LatencyHistogram {
    private static let subBuckets = 32
    private static let linearLimit: UInt64 = 64
    private static let magnitudes = 30
    private var counts = [UInt64](repeating: 0, count: Int(LatencyHistogram.linearLimit)
                                  + LatencyHistogram.magnitudes * LatencyHistogram.subBuckets)
    private(set) var count: UInt64 = 0
    private(set) var maximum: UInt64 = 0

    mutating func record(microseconds value: UInt64) {
        counts[Self.bucket(of: value)] += 1
        count += 1
        if value > maximum { maximum = value }
    }

    mutating func reset() {
        for index in counts.indices { counts[index] = 0 }
        count = 0
        maximum = 0
    }

    /// The value at `percentile` (0–100), in microseconds: the upper edge of the bucket that holds it.
    func percentile(_ percentile: Double) -> UInt64 {
        guard count > 0 else { return 0 }
        let rank = UInt64((percentile / 100 * Double(count)).rounded(.up))
        var seen: UInt64 = 0
        for (index, n) in counts.enumerated() where n > 0 {
            seen += n
            if seen >= max(rank, 1) { return min(Self.upperEdge(of: index), maximum) }
        }
        return maximum
    }

    private static func bucket(of value: UInt64) -> Int {
        if value < linearLimit { return Int(value) }
        // value >= 64: its power of two (6...) picks the magnitude, the next 5 bits the sub-bucket.
        let power = 63 - value.leadingZeroBitCount
        let magnitude = min(power - 6, magnitudes - 1)
        let sub = Int((value >> UInt64(power - 5)) & 31)
        return Int(linearLimit) + magnitude * subBuckets + sub
    }

    private static func upperEdge(of index: Int) -> UInt64 {
        if index < Int(linearLimit) { return UInt64(index) }
        let magnitude = (index - Int(linearLimit)) / subBuckets
        let sub = UInt64((index - Int(linearLimit)) % subBuckets)
        let power = UInt64(magnitude + 6)
        return (UInt64(1) << power) + (sub + 1) * (UInt64(1) << (power - 5)) - 1
    }
}
