import Logging

/// The HTTP side of a loop: parse, answer in order (application, upgrade to a WebSocket route, static
/// file or 404), keep-alive, and the head and idle deadlines.
extension EventLoop {
    func receiveHTTP(_ bytes: ArraySlice<UInt8>, exchange: HTTPExchange, on connection: Connection) {
        guard exchange.ending == nil else { return }  // after an error, close or upgrade: ignore the rest
        let result = bytes.withUnsafeBytes { exchange.parser.feed($0) }
        exchange.queued.append(contentsOf: result.requests)
        if result.outcome != .needMoreData { exchange.ending = result.outcome }
        if exchange.queued.count >= HTTPExchange.maxQueuedRequests {
            connection.wantsRead = false
            updateInterest(connection)
        }
        answerNext(on: connection, exchange: exchange)
        armHTTPDeadline(on: connection, exchange: exchange)
    }

    /// Answers queued requests until one waits on the application or none is left; then acts on the ending.
    private func answerNext(on connection: Connection, exchange: HTTPExchange) {
        while exchange.current == nil, case .http = connection.state {
            guard !exchange.queued.isEmpty else {
                finishEnding(on: connection, exchange: exchange)
                return
            }
            let request = exchange.queued.removeFirst()
            if case .upgrade = exchange.ending, exchange.queued.isEmpty, request.isWebSocketUpgrade {
                upgrade(request, on: connection, exchange: exchange)
                return
            }
            exchange.current = request
            route(request, on: connection)
        }
        if !connection.wantsRead, exchange.queued.count < HTTPExchange.maxQueuedRequests, exchange.ending == nil {
            connection.wantsRead = true
            updateInterest(connection)
            resumeBufferedTLSInput(of: connection)
        }
    }

    private func route(_ request: HTTPRequest, on connection: Connection) {
        guard let services = httpServices else { return }
        var request = request
        request.peer = connection.peer
        if services.webSocketRoutes[String(request.path)] != nil {
            // A plain GET of a WebSocket path (no upgrade headers): the handshake explains what is missing.
            if case .reject(let response) = services.handshake.evaluate(request) {
                return respond(response.closing(), on: connection)
            }
        }
        if let application = httpApplication {
            let id = connection.id
            let inbox = self.inbox
            let responder = HTTPResponder { response in inbox.post(.httpResponse(id, response)) }
            if application.handleHTTP(request, peer: connection.peer, responder: responder) { return }
        }
        if let file = services.staticFiles?.response(for: request) { return respond(file, on: connection) }
        if request.method != .get && request.method != .head && services.staticFiles != nil {
            return respond(.methodNotAllowed(allowed: [.get, .head]), on: connection)
        }
        respond(.notFound(), on: connection)
    }

    /// Queues the response to the current request, then moves on to the next one.
    func respond(_ response: HTTPResponse, on connection: Connection) {
        guard let exchange = connection.httpExchange, let request = exchange.current else { return }
        exchange.current = nil
        let keepAlive = request.keepAlive && !response.closeConnection
        enqueue(Outbound(response.serialize(keepAlive: keepAlive, isHeadRequest: request.method == .head,
                                             date: HTTPDate.now())), on: connection)
        if !keepAlive {
            beginDrain(connection, reason: .closedByApplication)
            return
        }
        answerNext(on: connection, exchange: exchange)
        armHTTPDeadline(on: connection, exchange: exchange)
    }

    /// After the last queued request: close, answer the parse error, or nothing (keep-alive).
    private func finishEnding(on connection: Connection, exchange: HTTPExchange) {
        switch exchange.ending {
        case .failed(let error)?:
            exchange.ending = .close
            let response = HTTPResponse(parseError: error)
            enqueue(Outbound(response.serialize(keepAlive: false, date: HTTPDate.now())), on: connection)
            beginDrain(connection, reason: .closedByApplication)
        case .close?:
            beginDrain(connection, reason: .closedByApplication)
        case .upgrade?, .needMoreData?, nil:
            break
        }
    }

    /// RFC 6455 §4.2.2: answer 101 and switch the connection to WebSocket, or refuse and close.
    private func upgrade(_ request: HTTPRequest, on connection: Connection, exchange: HTTPExchange) {
        guard let services = httpServices, case .upgrade(let leftover) = exchange.ending else { return }
        guard let route = services.webSocketRoutes[String(request.path)] else {
            exchange.current = request
            return respond(HTTPResponse.notFound().closing(), on: connection)
        }
        switch services.handshake.evaluate(request) {
        case .reject(let response):
            exchange.current = request
            respond(response.closing(), on: connection)
        case .accept(let response):
            enqueue(Outbound(response.serialize(keepAlive: true, date: HTTPDate.now())), on: connection)
            let link = WebSocketLink(route: route)
            connection.state = .webSocket(link)
            connection.maxQueuedOutputBytes = route.maxQueuedOutputBytes
            setDeadline(for: connection, after: services.configuration.webSocketPingInterval)
            connection.openedTo = link.application
            link.application.streamOpened(connection.id, kind: .webSocket, peer: connection.peer)
            if !leftover.isEmpty { receiveWebSocket(leftover[...], link: link, on: connection) }
        }
    }

    /// Idle between requests: the keep-alive deadline. Mid-head or mid-body: the head deadline (408),
    /// counted from the request's first byte and not restarted by later bytes (slowloris).
    private func armHTTPDeadline(on connection: Connection, exchange: HTTPExchange) {
        guard let services = httpServices, case .http = connection.state else { return }
        if exchange.current != nil || !exchange.queued.isEmpty {
            cancelDeadline(for: connection)  // the application is working; the client is not at fault
            exchange.headClockRunning = false
        } else if exchange.parser.isBetweenRequests {
            setDeadline(for: connection, after: services.configuration.keepAliveTimeout)
            exchange.headClockRunning = false
        } else if !exchange.headClockRunning {
            exchange.headClockRunning = true
            setDeadline(for: connection, after: services.configuration.headTimeout)
        }
    }

    /// The HTTP deadline passed: 408 mid-request, a quiet close when idle.
    func httpDeadlinePassed(on connection: Connection, exchange: HTTPExchange) {
        if exchange.parser.isBetweenRequests || exchange.current != nil {
            beginDrain(connection, reason: .closedByApplication)
            return
        }
        exchange.ending = .close
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/json")
        let body = Array(#"{"error":{"code":"request_timeout","message":"the request was not complete in time"}}"#.utf8)
        let response = HTTPResponse(status: 408, headers: headers, body: body, closeConnection: true)
        enqueue(Outbound(response.serialize(keepAlive: false, date: HTTPDate.now())), on: connection)
        beginDrain(connection, reason: .handshakeTimeout)
    }
}

extension HTTPResponse {
    /// The same response, marked to close the connection after it.
    func closing() -> HTTPResponse {
        var copy = self
        copy.closeConnection = true
        return copy
    }
}
