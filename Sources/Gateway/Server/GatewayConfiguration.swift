import Glibc

/// Where the gateway listens and the limits it enforces. Every limit is named with its unit.
public struct GatewayConfiguration: Sendable {
    /// Numeric address to bind: "0.0.0.0" (all IPv4), "::" (all IPv6 and IPv4), "127.0.0.1", or
    /// "localhost" as a spelling of 127.0.0.1.
    public var host: String
    /// TCP port for the line transport; 0 picks a free port (tests), reported by `start()`.
    public var tcpPort: Int
    /// Event loops, one thread each; 1...255 (the loop index lives in 8 bits of `ConnectionID`).
    public var loopCount: Int
    /// Longest line, terminator excluded, inclusive: this many bytes are allowed, one more is too long.
    public var maxLineBytes: Int
    /// A connection whose unwritten output would pass this is closed with `.slowConsumer`, so memory
    /// per connection is bounded no matter how far behind a reader falls. A `WebSocketRoute` has its own.
    public var maxQueuedOutputBytes: Int
    /// A connection that sends nothing for this long after accept is closed (`.handshakeTimeout`).
    public var firstByteTimeout: Duration
    /// Open sockets beyond this are accepted and closed at once (listener backlog stays drained).
    public var maxConnections: Int
    /// How long `close(_:)` (and a line-too-long connection the app leaves open) may wait for the
    /// peer to take queued output before the socket is closed regardless.
    public var closeFlushTimeout: Duration
    /// After our last byte and FIN, how long to keep discarding the peer's input while waiting for
    /// its FIN. Closing with unread input makes the kernel send RST, which can destroy our final
    /// bytes (an error message, say) before the peer reads them. The app is told at FIN time.
    public var lingerTimeout: Duration
    /// How long `stop()` lets connections flush before closing them regardless.
    public var shutdownGracePeriod: Duration
    /// Open sockets per client address (IPv6: per /64), both ports together; one more is accepted and
    /// closed at once. nil: no per-address cap (only `maxConnections`).
    public var maxConnectionsPerAddress: Int? = 32
    /// New connections per client address; past it a connection is accepted and closed at once. nil: none.
    public var connectionRatePerAddress: ConnectionRate? = ConnectionRate(burst: 20, per: .seconds(5))
    /// Apply the per-address limits to loopback peers as well (by default a local proxy or script is trusted).
    public var limitLoopback = false
    /// Until the application calls `GatewayServer.setMessageLimit(_:for:)`, a stream's lines and WebSocket
    /// messages are limited to this many bytes (an unauthenticated client gets a smaller buffer). nil: the
    /// full limits from the first byte. Applies to `webSocketPath`; each `WebSocketRoute` has its own.
    public var initialMessageBytes: Int?
    /// Certificate and key for TLS on both ports (a first byte of 0x16 starts a handshake); nil: plaintext only.
    public var tls: TLSFiles?
    /// Refuse plaintext on both ports (TCP: one error line; HTTP: 426). Needs `tls`.
    public var requireTLS = false
    /// TLS handshakes in progress per loop; further TLS connections wait unread (their deadline running).
    public var maxHandshakesPerLoop = 64

    public init(
        host: String = "0.0.0.0",
        tcpPort: Int = 0,
        loopCount: Int = GatewayConfiguration.defaultLoopCount,
        maxLineBytes: Int = 65_536,
        maxQueuedOutputBytes: Int = 1_048_576,
        firstByteTimeout: Duration = .seconds(10),
        maxConnections: Int = 10_000,
        closeFlushTimeout: Duration = .seconds(5),
        lingerTimeout: Duration = .seconds(2),
        shutdownGracePeriod: Duration = .seconds(2)
    ) {
        self.host = host
        self.tcpPort = tcpPort
        self.loopCount = loopCount
        self.maxLineBytes = maxLineBytes
        self.maxQueuedOutputBytes = maxQueuedOutputBytes
        self.firstByteTimeout = firstByteTimeout
        self.maxConnections = maxConnections
        self.closeFlushTimeout = closeFlushTimeout
        self.lingerTimeout = lingerTimeout
        self.shutdownGracePeriod = shutdownGracePeriod
    }

    /// The number of online CPU cores, at least 1 and at most 255.
    public static var defaultLoopCount: Int {
        min(max(sysconf(Int32(_SC_NPROCESSORS_ONLN)), 1), 255)
    }

    /// Rejects values the gateway cannot honour, naming the first offending field.
    func validate() throws(GatewayError) {
        func check(_ condition: Bool, _ field: String) throws(GatewayError) {
            if !condition { throw GatewayError.invalidConfiguration(field) }
        }
        try check((1...255).contains(loopCount), "loopCount must be 1...255")
        try check((0...65_535).contains(tcpPort), "tcpPort must be 0...65535")
        try check(maxLineBytes > 0, "maxLineBytes must be positive")
        try check(maxQueuedOutputBytes > 0, "maxQueuedOutputBytes must be positive")
        try check(maxConnections > 0, "maxConnections must be positive")
        try check(firstByteTimeout > .zero, "firstByteTimeout must be positive")
        try check(maxConnectionsPerAddress.map { $0 > 0 } ?? true, "maxConnectionsPerAddress must be positive")
        try check(connectionRatePerAddress.map { $0.burst > 0 && $0.period > .zero } ?? true,
                  "connectionRatePerAddress needs a positive burst and period")
        try check(initialMessageBytes.map { $0 > 0 } ?? true, "initialMessageBytes must be positive")
        try check(!requireTLS || tls != nil, "requireTLS needs a certificate and key (tls)")
        try check(maxHandshakesPerLoop > 0, "maxHandshakesPerLoop must be positive")
    }
}

/// PEM files for TLS: the certificate file may hold a chain (leaf first), sent whole. Read at start and again
/// on `GatewayServer.reloadTLS()`.
public struct TLSFiles: Sendable, Equatable {
    public var certificateFile: String
    public var keyFile: String

    public init(certificateFile: String, keyFile: String) {
        self.certificateFile = certificateFile
        self.keyFile = keyFile
    }
}

/// Why the gateway could not start.
public enum GatewayError: Error, Equatable, CustomStringConvertible {
    /// A configuration value is out of range; the text names it.
    case invalidConfiguration(String)
    /// `host` is not a numeric IPv4/IPv6 address (or "localhost").
    case invalidAddress(String)
    /// A system call failed (bind: address in use, out of descriptors, …).
    case systemCall(String, errno: Int32)
    /// `start()` was called twice, or after `stop()`.
    case notStartable
    /// The TLS certificate or key could not be loaded; the text says which and why.
    case tlsSetup(String)

    public var description: String {
        switch self {
        case .invalidConfiguration(let reason): "invalid gateway configuration: \(reason)"
        case .invalidAddress(let host): "not a numeric address: \(host)"
        case .systemCall(let call, let code): "\(call) failed: \(String(cString: strerror(code))) (errno \(code))"
        case .notStartable: "the gateway can be started once"
        case .tlsSetup(let reason): "TLS: \(reason)"
        }
    }

    init(_ error: SystemError) {
        self = .systemCall(error.call, errno: error.code)
    }
}

/// What the gateway's own limits refused so far (docs/SECURITY.md), for `/metrics`.
public struct GatewayLimitCounters: Sendable, Equatable {
    /// Connections accepted and closed because `maxConnections` sockets were open.
    public var refusedServerFull = 0
    /// Connections accepted and closed because their address had `maxConnectionsPerAddress` open.
    public var refusedAddressFull = 0
    /// Connections accepted and closed because their address connected faster than `connectionRatePerAddress`.
    public var refusedAddressRate = 0
    /// Streams closed for a line or WebSocket message over `initialMessageBytes` (before login).
    public var initialLimitExceeded = 0

    public init(refusedServerFull: Int = 0, refusedAddressFull: Int = 0, refusedAddressRate: Int = 0,
                initialLimitExceeded: Int = 0) {
        self.refusedServerFull = refusedServerFull
        self.refusedAddressFull = refusedAddressFull
        self.refusedAddressRate = refusedAddressRate
        self.initialLimitExceeded = initialLimitExceeded
    }
}
