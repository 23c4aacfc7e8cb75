import ParleySupport
import Synchronization

/// New connections allowed per client address: `burst` at once, and `burst` per `period` sustained
/// (a token bucket; `burst: 20, per: .seconds(5)` is 20 in a row, then 4 a second).
public struct ConnectionRate: Sendable, Equatable {
    public var burst: Int
    public var period: Duration

    public init(burst: Int, per period: Duration) {
        self.burst = burst
        self.period = period
    }
}

/// Why an accepted socket was closed at once instead of served.
enum Refusal {
    /// `maxConnectionsPerAddress` sockets from this address are already open.
    case addressFull
    /// The address opened connections faster than `connectionRatePerAddress`.
    case addressTooFast
}

/// Per-address admission at accept time (docs/SECURITY.md): open sockets per address and new connections per
/// address, on both ports together. Loop 0 admits; any loop releases when it closes a socket, so the
/// tables sit behind one mutex, taken once per accept and once per close.
///
/// Addresses are keyed as `PeerAddress.limitKey` (IPv6 by /64). Loopback peers are exempt unless
/// `limitLoopback` is set; `admit` and `release` decide that the same way from the address alone, so they
/// always pair up without per-connection bookkeeping.
final class AddressLimiter: Sendable {
    private struct State {
        var open: [String: Int] = [:]
        /// GCRA: the monotonic time at which each address's bucket is full again.
        var fullAt: [String: UInt64] = [:]
        var lastPrune: UInt64 = 0
    }

    let maxPerAddress: Int?
    let rate: ConnectionRate?
    let limitLoopback: Bool
    private let state = Mutex(State())

    init(maxPerAddress: Int?, rate: ConnectionRate?, limitLoopback: Bool) {
        self.maxPerAddress = maxPerAddress
        self.rate = rate
        self.limitLoopback = limitLoopback
    }

    convenience init(_ configuration: GatewayConfiguration) {
        self.init(maxPerAddress: configuration.maxConnectionsPerAddress,
                  rate: configuration.connectionRatePerAddress, limitLoopback: configuration.limitLoopback)
    }

    var isActive: Bool { maxPerAddress != nil || rate != nil }

    private func applies(to peer: PeerAddress) -> Bool {
        isActive && (limitLoopback || !peer.isLoopback)
    }

    /// Counts a new connection from `peer` at monotonic time `now` (nanoseconds), or says why not.
    func admit(_ peer: PeerAddress, now: UInt64) -> Refusal? {
        guard applies(to: peer) else { return nil }
        let key = peer.limitKey
        return state.withLock { state -> Refusal? in
            if let maxPerAddress, state.open[key, default: 0] >= maxPerAddress { return .addressFull }
            if let rate {
                let interval = max(rate.period.nanoseconds / UInt64(max(rate.burst, 1)), 1)
                let tolerance = interval &* UInt64(max(rate.burst - 1, 0))
                let start = max(state.fullAt[key] ?? now, now)
                if start - now > tolerance { return .addressTooFast }
                state.fullAt[key] = start + interval
                // Forget refilled buckets now and then, so the table holds only recent addresses.
                if now &- state.lastPrune > rate.period.nanoseconds {
                    state.fullAt = state.fullAt.filter { $0.value > now }
                    state.lastPrune = now
                }
            }
            if maxPerAddress != nil { state.open[key, default: 0] += 1 }
            return nil
        }
    }

    /// The socket from `peer` that `admit` counted is closed.
    func release(_ peer: PeerAddress) {
        guard maxPerAddress != nil, applies(to: peer) else { return }
        let key = peer.limitKey
        state.withLock { state in
            guard let count = state.open[key] else { return }
            state.open[key] = count > 1 ? count - 1 : nil
        }
    }

    /// Open sockets counted for `peer`'s address (tests).
    func openCount(for peer: PeerAddress) -> Int {
        state.withLock { $0.open[peer.limitKey] ?? 0 }
    }
}

extension PeerAddress {
    /// The key per-address limits count under: IPv4 as is, IPv6 by its /64 (`ClientAddress.limitKey`, the
    /// same key the hub's login and registration limits use).
    public var limitKey: String { ClientAddress.limitKey(host) }
}
