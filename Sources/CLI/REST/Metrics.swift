import ChatCore
import Gateway
import Synchronization

/// Open streams per door and slow-consumer disconnects, counted by `ChatBridge` as the gateway reports
/// streams opening and closing. The hub cannot count these: it sees clients, not carriers, and a slow
/// consumer is cut by the gateway before the hub hears of it.
final class DoorCounters: Sendable {
    /// The doors onto the hub that hold a stream open (REST is counted separately, per HTTP connection).
    enum Door: String, CaseIterable, Sendable {
        case tcp, text, ws
    }

    private struct State {
        /// Which door each open stream came through: `streamClosed` names only the connection.
        var doors: [ConnectionID: Door] = [:]
        var open: [Door: Int] = [:]
        var slowConsumerDisconnects = 0
    }

    private let state = Mutex(State())

    init() {}

    func opened(_ id: ConnectionID, kind: StreamKind) {
        let door: Door
        switch kind {
        case .jsonLines: door = .tcp
        case .textLines: door = .text
        case .webSocket: door = .ws
        case .http: return  // never reported to the application; the gateway counts HTTP connections
        }
        state.withLock { state in
            state.doors[id] = door
            state.open[door, default: 0] += 1
        }
    }

    func closed(_ id: ConnectionID, reason: CloseReason) {
        state.withLock { state in
            if let door = state.doors.removeValue(forKey: id) { state.open[door, default: 0] -= 1 }
            if reason == .slowConsumer { state.slowConsumerDisconnects += 1 }
        }
    }

    /// Open streams per door (every door present, zero included) and slow-consumer disconnects so far.
    func snapshot() -> (open: [Door: Int], slowConsumerDisconnects: Int) {
        state.withLock { state in
            var open: [Door: Int] = [:]
            for door in Door.allCases { open[door] = state.open[door] ?? 0 }
            return (open, state.slowConsumerDisconnects)
        }
    }
}

/// Requests and their latency per REST route: a fixed-bucket histogram in the Prometheus sense (cumulative
/// buckets are computed when rendering; the hot path increments one slot).
final class RESTMetrics: Sendable {
    /// Upper bounds in seconds, from half a millisecond (a cached token lookup) to 5 s (a queue of password checks).
    static let bucketBounds: [Double] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]

    struct Histogram: Sendable, Equatable {
        /// Observations per bucket, not cumulative; the last slot is above the highest bound.
        var buckets = [Int](repeating: 0, count: RESTMetrics.bucketBounds.count + 1)
        var sum = 0.0
        var count = 0
    }

    struct Snapshot: Sendable, Equatable {
        var latency: [String: Histogram] = [:]
        /// (route, status) → requests.
        var responses: [RouteStatus: Int] = [:]
        /// Successful `POST /api/login` calls (socket logins are counted by the hub).
        var tokenLogins = 0
    }

    struct RouteStatus: Hashable, Sendable, Comparable {
        var route: String
        var status: Int
        static func < (a: Self, b: Self) -> Bool { (a.route, a.status) < (b.route, b.status) }
    }

    private let state = Mutex(Snapshot())

    init() {}

    func observe(route: String, status: Int, seconds: Double) {
        let slot = Self.bucketBounds.firstIndex { seconds <= $0 } ?? Self.bucketBounds.count
        state.withLock { state in
            state.latency[route, default: Histogram()].buckets[slot] += 1
            state.latency[route, default: Histogram()].sum += seconds
            state.latency[route, default: Histogram()].count += 1
            state.responses[RouteStatus(route: route, status: status), default: 0] += 1
        }
    }

    func tokenLoginSucceeded() {
        state.withLock { $0.tokenLogins += 1 }
    }

    func snapshot() -> Snapshot {
        state.withLock { $0 }
    }
}

/// The Prometheus text exposition format (version 0.0.4) of everything Parley counts.
enum MetricsPage {
    static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    /// Renders one scrape. `openSockets` is every socket the gateway holds open on both ports (nil: unknown).
    static func render(hub: HubMetrics, doors: (open: [DoorCounters.Door: Int], slowConsumerDisconnects: Int),
                       openSockets: Int?, rest: RESTMetrics.Snapshot, gateway: GatewayLimitCounters? = nil) -> String {
        var out = ""
        func family(_ name: String, _ type: String, _ help: String) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
        }
        func sample(_ name: String, _ labels: [(String, String)] = [], _ value: String) {
            out += name
            if !labels.isEmpty {
                out += "{" + labels.map { "\($0.0)=\"\(escaped($0.1))\"" }.joined(separator: ",") + "}"
            }
            out += " \(value)\n"
        }
        func counter(_ name: String, _ help: String, _ value: Int) {
            family(name, "counter", help)
            sample(name, [], String(value))
        }

        family("parley_connections_open", "gauge",
               "Open connections by door (tcp: JSON lines, text: nc/telnet, ws: WebSocket, http: HTTP).")
        for door in DoorCounters.Door.allCases {
            sample("parley_connections_open", [("door", door.rawValue)], String(doors.open[door] ?? 0))
        }
        if let openSockets {
            // The gateway counts sockets, not doors: what is not a stream is an HTTP connection. A TCP client that
            // has not sent its first byte yet (so has no mode) is counted here too, for those few milliseconds.
            let streams = DoorCounters.Door.allCases.reduce(0) { $0 + (doors.open[$1] ?? 0) }
            sample("parley_connections_open", [("door", "http")], String(max(0, openSockets - streams)))
        }
        family("parley_online_users", "gauge", "Users logged in on a socket door (REST callers are never online).")
        sample("parley_online_users", [], String(hub.onlineUsers))

        family("parley_logins_total", "counter", "Password and token logins on every door, by outcome.")
        sample("parley_logins_total", [("outcome", "success")], String(hub.loginsSucceeded + rest.tokenLogins))
        sample("parley_logins_total", [("outcome", "bad_password")], String(hub.loginsFailed))
        sample("parley_logins_total", [("outcome", "locked")], String(hub.loginsRefusedLocked))
        sample("parley_logins_total", [("outcome", "busy")], String(hub.loginsRefusedBusy))
        counter("parley_registrations_total", "Accounts created on every door.", hub.registrations)
        counter("parley_lockouts_total", "Accounts locked after too many wrong passwords.", hub.lockouts)
        counter("parley_messages_total", "Direct messages accepted.", hub.messages)
        counter("parley_broadcasts_total", "Broadcasts accepted.", hub.broadcasts)
        counter("parley_deliveries_total", "Events handed to recipients' connections.", hub.deliveries)
        counter("parley_offline_stored_total", "Direct messages stored for an offline recipient.", hub.offlineStored)
        counter("parley_offline_delivered_total", "Stored messages delivered at the recipient's next login.",
                hub.offlineDelivered)
        counter("parley_idle_logouts_total", "Users logged out for inactivity.", hub.idleLogouts)
        counter("parley_room_messages_total", "Room messages accepted.", hub.roomMessages)
        // The room limits (docs/SECURITY.md), by the error code the refused join got; both values always present.
        family("parley_room_joins_refused_total", "counter", "Room joins refused by a room limit, by error code.")
        sample("parley_room_joins_refused_total", [("code", "room_full")], String(hub.roomJoinsRefusedFull))
        sample("parley_room_joins_refused_total", [("code", "too_many_rooms")], String(hub.roomJoinsRefusedTooMany))
        family("parley_cluster_remote_users", "gauge", "Users online on the other nodes of the cluster, as this node sees them.")
        sample("parley_cluster_remote_users", [], String(hub.clusterRemoteUsers))
        counter("parley_cluster_nodes_lost_total", "Other nodes found silent for the node timeout (their users went out).",
                hub.clusterNodesLost)
        counter("parley_slow_consumer_disconnects_total",
                "Connections closed because their unread output passed the limit.", doors.slowConsumerDisconnects)
        // Abuse limits (docs/SECURITY.md): one family, one label value per limit.
        family("parley_limit_refusals_total", "counter", "Requests and connections refused by an abuse limit.")
        for (limit, value) in limitRefusals(hub: hub, gateway: gateway) {
            sample("parley_limit_refusals_total", [("limit", limit)], String(value))
        }

        family("parley_http_requests_total", "counter", "REST, health and metrics requests by route and status.")
        for key in rest.responses.keys.sorted() {
            sample("parley_http_requests_total", [("route", key.route), ("code", String(key.status))],
                   String(rest.responses[key] ?? 0))
        }
        family("parley_http_request_duration_seconds", "histogram",
               "Time from a complete REST request to its response, by route.")
        for route in rest.latency.keys.sorted() {
            guard let histogram = rest.latency[route] else { continue }
            var cumulative = 0
            for (index, bound) in RESTMetrics.bucketBounds.enumerated() {
                cumulative += histogram.buckets[index]
                sample("parley_http_request_duration_seconds_bucket", [("route", route), ("le", String(bound))],
                       String(cumulative))
            }
            sample("parley_http_request_duration_seconds_bucket", [("route", route), ("le", "+Inf")],
                   String(histogram.count))
            sample("parley_http_request_duration_seconds_sum", [("route", route)], String(histogram.sum))
            sample("parley_http_request_duration_seconds_count", [("route", route)], String(histogram.count))
        }
        return out
    }

    /// Label values escape backslash, double quote and newline (the exposition format's only escapes).
    private static func escaped(_ value: String) -> String {
        var out = ""
        for character in value {
            switch character {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(character)
            }
        }
        return out
    }
}
