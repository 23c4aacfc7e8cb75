// The protocol state each open case of `Connection.State` carries. Classes, so that the state mutated on
// every read (a line framer, a parser) is changed in place through the reference bound by a `switch`,
// never copied out of the enum and written back.

/// A line stream's state: how it frames (decided by its first byte) and the framer holding a partial line.
/// Loop-confined. Not Sendable.
final class LineStream {
    /// `.jsonLines` or `.textLines`.
    let kind: StreamKind
    var framer: LineFramer

    init(kind: StreamKind, maxLineBytes: Int) {
        self.kind = kind
        framer = LineFramer(maxLineBytes: maxLineBytes)
    }
}

/// The HTTP side of one connection on the HTTP port: its parser and the requests waiting their turn.
///
/// Requests are answered strictly one at a time in arrival order (pipelining keeps its order because the
/// next request is not even looked at until the current response is queued). Loop-confined. Not Sendable.
final class HTTPExchange {
    let parser: HTTPParser
    /// Parsed and waiting; bounded by `maxQueuedRequests`, after which reading pauses.
    var queued: [HTTPRequest] = []
    /// The request the application is answering, if any.
    var current: HTTPRequest?
    /// How the parser ended the stream, acted on once `queued` is empty: close, upgrade, or an error response.
    var ending: HTTPParseOutcome?
    /// The head deadline is running for the request being received (armed at accept for the first one).
    var headClockRunning = true

    /// Pipelined requests held at most; beyond it the connection stops reading until they are answered.
    static let maxQueuedRequests = 32

    init(parser: HTTPParser) {
        self.parser = parser
    }
}

/// The WebSocket side of one connection after the upgrade: its session and the route it came in on.
/// Loop-confined. Not Sendable.
final class WebSocketLink {
    let session: WebSocketSession
    /// The route's application, told of this connection's messages.
    let application: any StreamApplication
    /// The same application if it takes binary messages; nil refuses them (1003). Cast once, at the upgrade.
    let binaryApplication: (any BinaryMessageApplication)?
    /// The route's ceiling for `session.maxMessageBytes` (which starts lower until the application lifts it).
    let maxMessageBytes: Int
    /// A ping was sent and no frame has arrived since: the next ping deadline drops the connection.
    var awaitingPong = false

    init(route: WebSocketRoute) {
        session = WebSocketSession(maxMessageBytes: route.startingMessageBytes)
        application = route.application
        binaryApplication = route.application as? any BinaryMessageApplication
        maxMessageBytes = route.maxMessageBytes
    }
}
