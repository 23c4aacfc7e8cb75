/// The HTTP port: where it listens, what it serves, and its limits. Every limit is named with its unit.
public struct HTTPServerConfiguration: Sendable {
    /// Port for HTTP, WebSocket and static files; 0 picks a free port (reported by `GatewayServer.httpPort`).
    public var port: Int
    /// Folder of static files (the browser page). nil serves none: every unrouted path is a 404.
    public var publicDirectory: String?
    /// WebSocket upgrades are accepted on this path and handed to the `StreamApplication`.
    public var webSocketPath = "/ws"
    /// If set, upgrades on this path get an echo endpoint inside the gateway (conformance testing only).
    public var webSocketEchoPath: String?
    /// Origins allowed besides the page's own host (`--allowed-origin`); a missing Origin is allowed.
    public var allowedOrigins: [String] = []
    /// Largest WebSocket message, inclusive (PROTOCOL.md: 64 KiB); larger ones close with 1009.
    public var maxWebSocketMessageBytes = 65_536
    /// The echo endpoint's limit: large enough for Autobahn's 9.x performance cases (up to 16 MiB).
    public var maxEchoMessageBytes = 16 * 1_048_576
    /// Limits of the request parser (head 16 KiB, target 8 KiB, body 1 MiB).
    public var parser = HTTPParserConfiguration()
    /// A request head not complete within this after its first byte gets 408 and the connection closes.
    public var headTimeout: Duration = .seconds(10)
    /// An idle keep-alive connection is closed after this.
    public var keepAliveTimeout: Duration = .seconds(60)
    /// An idle WebSocket is pinged after this; one that has not answered by the next interval is dropped.
    public var webSocketPingInterval: Duration = .seconds(30)
    /// Sent with every static file: no inline script, everything from this origin.
    public var contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; "
        + "connect-src 'self' ws: wss:; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"

    public init(port: Int = 0, publicDirectory: String? = nil) {
        self.port = port
        self.publicDirectory = publicDirectory
    }
}

/// What every loop shares for HTTP: the configuration, the static files and the handshake policy.
/// Immutable after creation.
final class HTTPServices: Sendable {
    let configuration: HTTPServerConfiguration
    let staticFiles: StaticFiles?
    let handshake: WebSocketHandshake

    init(configuration: HTTPServerConfiguration) {
        self.configuration = configuration
        staticFiles = configuration.publicDirectory.flatMap { StaticFiles(root: $0, csp: configuration.contentSecurityPolicy) }
        handshake = WebSocketHandshake(allowedOrigins: configuration.allowedOrigins)
    }

    var parserConfiguration: HTTPParserConfiguration { configuration.parser }
}
