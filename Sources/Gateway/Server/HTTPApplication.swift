/// The seam for plain HTTP requests (REST, health, metrics). The gateway itself answers WebSocket upgrades
/// on its WebSocket routes and serves static files from the public folder; everything else is offered to the
/// application first. Gateway knows URLs and bytes, never what a route means (docs/ARCHITECTURE.md §1).
public protocol HTTPApplication: AnyObject, Sendable {
    /// Called on the connection's loop thread, once per request, in order. Return false to let the gateway
    /// serve the request itself (a static file, or 404/405). Return true to answer it through `responder`,
    /// now or later, from any thread: the gateway reads no further request from this connection until then,
    /// so pipelined responses stay in request order.
    func handleHTTP(_ request: HTTPRequest, peer: PeerAddress, responder: HTTPResponder) -> Bool
}

/// Answers one HTTP request. Thread-safe; use it exactly once (later calls are ignored).
public struct HTTPResponder: Sendable {
    private let deliver: @Sendable (HTTPResponse) -> Void

    /// Made by the gateway for each request it offers to the application (and by tests).
    public init(_ deliver: @escaping @Sendable (HTTPResponse) -> Void) {
        self.deliver = deliver
    }

    public func respond(_ response: HTTPResponse) {
        deliver(response)
    }
}
