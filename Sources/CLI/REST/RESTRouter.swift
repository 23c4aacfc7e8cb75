import ChatCore
import Dispatch
import Gateway
import Synchronization

/// The REST API, health, metrics and the OpenAPI document (docs/PROTOCOL.md §10), as the gateway's HTTP
/// application. Everything else on the HTTP port (the browser page, `/ws`) stays with the gateway.
///
/// Every chat endpoint is a short-lived hub session: the router reads the request, resolves the caller, hands
/// the hub a `ClientRequest`, and turns the one `ServerEvent` it replies with into the HTTP response. Such a
/// session is never "online": no presence, no idle timer.
///
/// Threading: `handleHTTP` runs on a loop thread and never blocks. Hub replies that come later (a password hash,
/// a commit) answer from the hasher's or the store's thread through `HTTPResponder`, which is thread-safe.
final class RESTRouter: HTTPApplication, Sendable {
    let chat: ChatService
    let metrics: RESTMetrics
    let doors: DoorCounters?
    let openAPI: OpenAPIDocument
    /// Every open socket on both ports, as the gateway counts them; nil leaves the `http` door out of `/metrics`.
    let openSockets: @Sendable () -> Int?
    /// The gateway's refusals (per-address caps, pre-login size), for `/metrics`; nil when unknown.
    let gatewayLimits: @Sendable () -> GatewayLimitCounters?
    /// The gateway's output counters (OutputMetrics.swift); nil leaves them out of `/metrics`.
    let outputStatistics: @Sendable () -> GatewayOutputStatistics?
    /// The services a cluster node depends on (PostgreSQL, Redis) that are down now, with why; empty on one node.
    let unavailableParts: @Sendable () -> [(part: String, reason: String)]

    init(chat: ChatService, openAPI: OpenAPIDocument, doors: DoorCounters? = nil, metrics: RESTMetrics = RESTMetrics(),
         openSockets: @escaping @Sendable () -> Int? = { nil },
         gatewayLimits: @escaping @Sendable () -> GatewayLimitCounters? = { nil },
         outputStatistics: @escaping @Sendable () -> GatewayOutputStatistics? = { nil },
         unavailableParts: @escaping @Sendable () -> [(part: String, reason: String)] = { [] }) {
        self.unavailableParts = unavailableParts
        self.gatewayLimits = gatewayLimits
        self.chat = chat
        self.openAPI = openAPI
        self.doors = doors
        self.metrics = metrics
        self.openSockets = openSockets
        self.outputStatistics = outputStatistics
    }

    func handleHTTP(_ request: HTTPRequest, peer: PeerAddress, responder: HTTPResponder) -> Bool {
        guard let match = RESTRoute.match(request.path) else { return false }
        let started = ContinuousClock.now
        let metrics = self.metrics
        let respond = HTTPResponder { response in
            let elapsed = ContinuousClock.now - started
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
            metrics.observe(route: match.label, status: response.status, seconds: seconds)
            responder.respond(response)
        }
        switch match {
        case .unknown:
            respond.respond(RESTError.notFound())
        case .malformed(let message, _):
            respond.respond(RESTError.badRequest(message))
        case .route(let route):
            let allowed = route.methods
            // HEAD is GET without the body (RFC 9110 §9.3.2); the gateway drops the body when it serializes.
            let method = request.method == .head ? HTTPMethod.get : request.method
            guard allowed.contains(method) else {
                let advertised = allowed.contains(.get) ? allowed + [.head] : allowed
                respond.respond(.methodNotAllowed(allowed: advertised))
                return true
            }
            dispatch(route, method: method, request, respond)
        }
        return true
    }

    /// 200 `ok` while every part answers; 503 naming each part that does not (a load balancer takes the node out
    /// of rotation; a person reads which service to look at).
    private func health() -> HTTPResponse {
        let down = unavailableParts()
        guard !down.isEmpty else { return .text("ok\n") }
        return .text(status: 503, down.map { "down: \($0.part) (\($0.reason))\n" }.joined())
    }

    private func dispatch(_ route: RESTRoute, method: HTTPMethod, _ request: HTTPRequest, _ respond: HTTPResponder) {
        switch route {
        case .login: login(request, respond)
        case .register: register(request, respond)
        case .logout: logout(request, respond)
        case .whoelse: whoElse(request, respond, since: false)
        case .whoelsesince: whoElse(request, respond, since: true)
        case .history: history(request, respond)
        case .messages: postMessage(request, respond)
        case .broadcasts: postBroadcast(request, respond)
        case .blocks: listBlocks(request, respond)
        case .inbox: inbox(request, respond)
        case .inboxAck: acknowledgeInbox(request, respond)
        case .block(let other): setBlock(request, respond, other: other, blocked: method == .put)
        case .rooms: listRooms(request, respond)
        case .room(let room): setMembership(request, respond, room: room, joining: method == .put)
        case .roomMessages(let room):
            if method == .post { sayInRoom(request, respond, room: room) } else { readRoom(request, respond, room: room) }
        case .roomAck(let room): acknowledgeRoom(request, respond, room: room)
        case .roomMembers(let room): listMembers(request, respond, room: room)
        case .roomMember(let room, let user): kick(request, respond, room: room, user: user)
        case .roomBan(let room, let user): setBan(request, respond, room: room, user: user, banned: method == .put)
        case .health: respond.respond(health())
        case .metrics: respond.respond(.text(renderMetrics(), contentType: MetricsPage.contentType))
        case .openAPI: respond.respond(openAPI.response)
        }
    }

    /// One scrape. The hub's lock is taken once, for its own counters, never while holding ours.
    func renderMetrics() -> String {
        MetricsPage.render(hub: chat.metricsSnapshot(),
                           doors: doors?.snapshot() ?? ([:], 0),
                           openSockets: openSockets(),
                           rest: metrics.snapshot(),
                           gateway: gatewayLimits())
            + (outputStatistics().map(OutputMetricsPage.render) ?? "")
    }

    /// Resolves the caller's credentials, then continues with the user name (outside the hub's lock, so `next`
    /// may call the hub again); a refusal (401, or 423/429 for a Basic password check) is answered here.
    func authenticated(_ request: HTTPRequest, _ respond: HTTPResponder,
                       then next: @escaping @Sendable (String) -> Void) {
        let credentials: ChatService.Credentials
        switch RESTAuth.credentials(in: request.headers) {
        case .failure(let refusal): return respond.respond(refusal.response)
        case .success(let found): credentials = found
        }
        let continuation: @Sendable (Result<String, ChatError>) -> Void = { result in
            switch result {
            case .success(let user): next(user)
            case .failure(let error): respond.respond(RESTError.response(error))
            }
        }
        // A bearer token (or a refusal before hashing) answers at once, on this thread. A Basic password's verdict
        // comes later on a hashing worker, which runs at low priority and should only hash: continue elsewhere.
        let returned = Mutex(false)
        chat.authenticate(credentials, peerHost: request.peer?.host) { result in
            if returned.withLock({ $0 }) {
                DispatchQueue.global().async { continuation(result) }
            } else {
                continuation(result)
            }
        }
        returned.withLock { $0 = true }
    }
}

/// The endpoints, matched on the path alone so that a wrong method gets 405 (with `Allow`), not 404.
enum RESTRoute: Equatable, Sendable {
    case login, register, logout, whoelse, whoelsesince, history, messages, broadcasts, blocks, inbox, inboxAck
    /// `/api/blocks/{user}`, the name already percent-decoded.
    case block(String)
    /// `/api/rooms` (the caller's rooms) and the routes under `/api/rooms/{room}` (RESTRooms.swift), every name
    /// already percent-decoded.
    case rooms
    case room(String)
    case roomMessages(String)
    case roomAck(String)
    case roomMembers(String)
    case roomMember(room: String, user: String)
    case roomBan(room: String, user: String)
    case health, metrics, openAPI

    enum Match: Equatable, Sendable {
        case route(RESTRoute)
        /// Under `/api` but naming no endpoint: a JSON 404 rather than the gateway's static-file lookup.
        case unknown
        /// A route with a name in its path (`label` is its template) whose name is not valid percent-encoded UTF-8.
        case malformed(String, label: String)

        /// The route template, for metrics labels (never the raw path: names must not become label values).
        var label: String {
            switch self {
            case .route(let route): route.label
            case .unknown: "unknown"
            case .malformed(_, let label): label
            }
        }
    }

    /// The route for `path`, or nil when the path is not ours (static files, `/ws`).
    static func match(_ path: Substring) -> Match? {
        switch path {
        case "/healthz": return .route(.health)
        case "/metrics": return .route(.metrics)
        case "/openapi.yaml": return .route(.openAPI)
        case "/api/login": return .route(.login)
        case "/api/register": return .route(.register)
        case "/api/logout": return .route(.logout)
        case "/api/whoelse": return .route(.whoelse)
        case "/api/whoelsesince": return .route(.whoelsesince)
        case "/api/history": return .route(.history)
        case "/api/messages": return .route(.messages)
        case "/api/broadcasts": return .route(.broadcasts)
        case "/api/blocks": return .route(.blocks)
        case "/api/inbox": return .route(.inbox)
        case "/api/inbox/ack": return .route(.inboxAck)
        case "/api/rooms": return .route(.rooms)
        default: break
        }
        let blockPrefix = "/api/blocks/"
        if path.hasPrefix(blockPrefix) {
            let segment = path.dropFirst(blockPrefix.count)
            guard !segment.isEmpty, !segment.contains("/") else { return .unknown }
            // A path segment is percent-encoded without the form rule: `+` stays `+`, a character names may hold.
            guard let name = RESTInput.percentDecoded(segment, plusIsSpace: false) else {
                return .malformed("the user in the path is not valid percent-encoded UTF-8", label: "/api/blocks/{user}")
            }
            return .route(.block(name))
        }
        let roomPrefix = "/api/rooms/"
        if path.hasPrefix(roomPrefix) { return matchRoom(path.dropFirst(roomPrefix.count)) }
        if path == "/api" || path.hasPrefix("/api/") { return .unknown }
        return nil
    }

    /// Methods this route answers (HEAD is implied by GET).
    var methods: [HTTPMethod] {
        switch self {
        case .login, .register, .logout, .messages, .broadcasts, .inboxAck, .roomAck: [.post]
        case .whoelse, .whoelsesince, .history, .blocks, .inbox, .rooms, .roomMembers, .health, .metrics, .openAPI: [.get]
        case .block, .room, .roomBan: [.put, .delete]
        case .roomMessages: [.get, .post]
        case .roomMember: [.delete]
        }
    }

    var label: String {
        switch self {
        case .login: "/api/login"
        case .register: "/api/register"
        case .logout: "/api/logout"
        case .whoelse: "/api/whoelse"
        case .whoelsesince: "/api/whoelsesince"
        case .history: "/api/history"
        case .messages: "/api/messages"
        case .broadcasts: "/api/broadcasts"
        case .blocks: "/api/blocks"
        case .inbox: "/api/inbox"
        case .inboxAck: "/api/inbox/ack"
        case .block: "/api/blocks/{user}"
        case .rooms: "/api/rooms"
        case .room: RoomPath.room.rawValue
        case .roomMessages: RoomPath.messages.rawValue
        case .roomAck: RoomPath.ack.rawValue
        case .roomMembers: RoomPath.members.rawValue
        case .roomMember: RoomPath.member.rawValue
        case .roomBan: RoomPath.ban.rawValue
        case .health: "/healthz"
        case .metrics: "/metrics"
        case .openAPI: "/openapi.yaml"
        }
    }
}
