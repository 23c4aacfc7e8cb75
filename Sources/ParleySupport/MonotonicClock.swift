import Glibc

/// Nanoseconds on CLOCK_MONOTONIC: immune to wall-clock jumps, which is what deadlines and intervals need.
public enum MonotonicClock {
    public static func now() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return UInt64(spec.tv_sec) &* 1_000_000_000 &+ UInt64(spec.tv_nsec)
    }
}

extension Duration {
    /// This duration in whole nanoseconds, clamped to zero for negative values (and to `UInt64.max`).
    public var nanoseconds: UInt64 {
        let (seconds, attoseconds) = components
        guard seconds >= 0, attoseconds >= 0 || seconds > 0 else { return 0 }
        let whole = UInt64(seconds).multipliedReportingOverflow(by: 1_000_000_000)
        if whole.overflow { return .max }
        let total = Int64(whole.partialValue) &+ attoseconds / 1_000_000_000
        return UInt64(max(total, 0))
    }
}
