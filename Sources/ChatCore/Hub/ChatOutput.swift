/// Identifies one connected client for the hub. The composition root chooses the value (it uses the gateway's
/// connection id); ChatCore never sees file descriptors, frames or HTTP.
public struct ClientID: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt64
    public init(_ rawValue: UInt64) { self.rawValue = rawValue }
    public var description: String { "client#\(rawValue)" }
}

/// How a client speaks: JSON requests and events, or the plain-text dialogue (nc/telnet, docs/PROTOCOL.md §8).
public enum ClientKind: Sendable, Equatable {
    case json
    case text
}

/// Where the hub's output goes. The hub calls these while holding its lock, so the order of calls is the
/// order of events; an implementation must only enqueue (never block, never call back into the hub).
public protocol ChatOutput: AnyObject, Sendable {
    /// `payload` is one JSON object without a newline for `.json` clients, or ready-to-write text for `.text`
    /// clients. The same array is shared by every recipient in `clients` (encode once).
    func deliver(_ payload: [UInt8], to clients: [ClientID])
    /// `deliver` to one client: a reply, or a direct message's event. The commonest output by far, so it comes
    /// without an array of one to allocate at each layer.
    func deliver(_ payload: [UInt8], to client: ClientID)
    /// The same, for an event encoded for the wire (`ServerEvent.encodedForWire`): the transport takes its buffer
    /// over instead of copying it. Every JSON reply and direct message goes this way.
    func deliver(_ payload: consuming WirePayload, to client: ClientID)
    /// Like `deliver`, for events nobody waits for (presence): the transport may hold them back briefly so
    /// they share a write with the recipient's other traffic. Order with `deliver` calls is kept.
    func deliverCoalesced(_ payload: [UInt8], to clients: [ClientID])
    /// Flush what was delivered to `client`, then close its connection.
    func disconnect(_ client: ClientID)
    /// `client` logged in: its transport may lift the tighter size limit it applies before login
    /// (docs/SECURITY.md). Called before the `welcome` is delivered.
    func authenticated(_ client: ClientID)
}

extension ChatOutput {
    public func authenticated(_ client: ClientID) {}
}

extension ChatOutput {
    public func deliver(_ payload: [UInt8], to client: ClientID) {
        deliver(payload, to: [client])
    }

    public func deliver(_ payload: consuming WirePayload, to client: ClientID) {
        deliver(payload.bytes, to: client)
    }

    public func deliverCoalesced(_ payload: [UInt8], to clients: [ClientID]) {
        deliver(payload, to: clients)
    }
}

/// Time inside ChatCore is one unit: `Int64` milliseconds since the Unix epoch, as the clock gives it, the store
/// keeps it and the protocol's `at` fields carry it. The protocol speaks whole seconds in a few places
/// (`whoelsesince`, `retryAfter`, a long poll's `wait`); these two conversions are the only ones.
enum Milliseconds {
    static func of(seconds: Int) -> Int64 { Int64(seconds) * 1000 }

    /// Whole seconds that cover `milliseconds`, rounded up: a wait that is not over is never reported as 0 s.
    static func wholeSeconds(coveringAtLeast milliseconds: Int64) -> Int { Int((milliseconds + 999) / 1000) }
}

/// Milliseconds since the Unix epoch. Injected so lockout, idle timeout and whoelsesince are tested without sleeping.
public protocol ChatClock: Sendable {
    func now() -> Int64
}

/// The real clock.
public struct SystemClock: ChatClock {
    public init() {}
    public func now() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
