/// The HTTP port: where it listens, what it serves, and its limits. Every limit is named with its unit.
public struct HTTPServerConfiguration: Sendable {
    /// Port for HTTP, WebSocket and static files; 0 picks a free port (reported by `GatewayServer.httpPort`).
    public var port: Int
    /// Folder of static files (the browser page). nil serves none: every unrouted path is a 404.
    public var publicDirectory: String?
    /// WebSocket upgrades are accepted on this path and handed to the gateway's `StreamApplication`, with
    /// `maxWebSocketMessageBytes`, and the gateway's `maxQueuedOutputBytes` and `initialMessageBytes`.
    public var webSocketPath = "/ws"
    /// Further WebSocket endpoints by path, each with its own application and limits (the conformance echo,
    /// say). A path here takes precedence over `webSocketPath`.
    public var webSocketRoutes: [String: WebSocketRoute] = [:]
    /// Origins allowed besides the page's own host (`--allowed-origin`); a missing Origin is allowed.
    public var allowedOrigins: [String] = []
    /// Largest WebSocket message, inclusive (docs/PROTOCOL.md §2: 64 KiB); larger ones close with 1009.
    public var maxWebSocketMessageBytes = 65_536
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

/// A WebSocket endpoint on the HTTP port: the application its connections are told to, and its limits.
public struct WebSocketRoute: Sendable {
    /// Hears of this route's connections only. A `BinaryMessageApplication` also gets binary messages.
    public var application: any StreamApplication
    /// Largest message, inclusive; larger ones close with 1009.
    public var maxMessageBytes: Int
    /// A connection whose unwritten output would pass this is closed with `.slowConsumer`.
    public var maxQueuedOutputBytes: Int
    /// Until the application calls `GatewayServer.setMessageLimit(_:for:)`, messages are limited to this.
    /// nil: `maxMessageBytes` from the start.
    public var initialMessageBytes: Int?

    public init(application: any StreamApplication, maxMessageBytes: Int = 65_536,
                maxQueuedOutputBytes: Int = 1_048_576, initialMessageBytes: Int? = nil) {
        self.application = application
        self.maxMessageBytes = maxMessageBytes
        self.maxQueuedOutputBytes = maxQueuedOutputBytes
        self.initialMessageBytes = initialMessageBytes
    }

    /// The message limit a new connection starts with.
    var startingMessageBytes: Int {
        min(initialMessageBytes ?? .max, maxMessageBytes)
    }
}

/// What every loop shares for HTTP: the configuration, the WebSocket routes, the static files and the
/// handshake policy. Immutable after creation.
final class HTTPServices: Sendable {
    let configuration: HTTPServerConfiguration
    /// Every WebSocket endpoint by path, `webSocketPath` (to the gateway's application) included.
    let webSocketRoutes: [String: WebSocketRoute]
    let staticFiles: StaticFiles?
    let handshake: WebSocketHandshake

    init(configuration: HTTPServerConfiguration, gateway: GatewayConfiguration, application: any StreamApplication) {
        self.configuration = configuration
        var routes = configuration.webSocketRoutes
        if routes[configuration.webSocketPath] == nil {
            routes[configuration.webSocketPath] = WebSocketRoute(
                application: application, maxMessageBytes: configuration.maxWebSocketMessageBytes,
                maxQueuedOutputBytes: gateway.maxQueuedOutputBytes, initialMessageBytes: gateway.initialMessageBytes)
        }
        webSocketRoutes = routes
        staticFiles = configuration.publicDirectory.flatMap { StaticFiles(root: $0, csp: configuration.contentSecurityPolicy) }
        handshake = WebSocketHandshake(allowedOrigins: configuration.allowedOrigins)
    }

    var parserConfiguration: HTTPParserConfiguration { configuration.parser }
}
