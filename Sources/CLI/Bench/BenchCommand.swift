import ArgumentParser
import ChatCore
import Foundation
import Glibc

/// `parley bench`: a load tool for sizing a deployment, in the spirit of redis-benchmark.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Load-test a Parley server: N clients over WebSocket or TCP, broadcasts, room and direct messages at a rate.",
        discussion: """
            Clients log in as <prefix>0 … <prefix>N-1 with one password (registering when the account does not \
            exist), then the first --senders of them send at --rate messages per second in total, each text \
            stamped with its send time. After --warmup seconds, --duration seconds are measured: deliveries per \
            second and their latency percentiles. --logins adds a login storm (fresh connections that log in \
            and out, each a real password check); --stalled adds clients that log in and then stop reading.
            Seed accounts ahead with the server's credentials file (`<prefix><i> <password>` per line) so that \
            the run measures chat traffic rather than registrations.
            With --tls every connection (the login storm's too, each a full handshake) speaks TLS: WebSocket \
            over TLS (wss) or JSON lines over TLS, to a server started with --tls-cert, or to a proxy that \
            terminates TLS in front of one.
            With --room every client joins that room after logging in (one it is already in is fine) and the \
            senders say their messages in it instead of broadcasting: a room's fan-out, each message stored \
            before it goes out, measured as the broadcasts are.
            """
    )

    enum Transport: String, ExpressibleByArgument, CaseIterable {
        case ws, tcp
    }

    @Option(help: "Server address (IPv4).")
    var host = "127.0.0.1"

    @Option(help: "The HTTP port for --transport ws, the native TCP port for --transport tcp.")
    var port: Int

    @Option(help: "ws (WebSocket at --path) or tcp (JSON lines).")
    var transport: Transport = .ws

    @Option(help: "WebSocket path.")
    var path = "/ws"

    @Option(name: [.customShort("c"), .long], help: "Clients that stay connected and receive everything.")
    var clients = 50

    @Option(name: [.customShort("s"), .long], help: "How many of the clients send.")
    var senders = 5

    @Option(name: [.customShort("r"), .long], help: "Messages per second, all senders together.")
    var rate = 50.0

    @Option(help: "Fraction of the messages sent as direct messages to a random client (0–1); the rest are broadcasts.")
    var direct = 0.0

    @Option(help: "Bytes of text per message.")
    var size = 64

    @Option(name: [.customShort("d"), .long], help: "Seconds measured.")
    var duration = 10.0

    @Option(name: [.customShort("w"), .long], help: "Seconds of traffic before measuring.")
    var warmup = 2.0

    @Option(help: "User names are this prefix and a number.")
    var userPrefix = "bench"

    @Option(help: "The password of every benchmark user.")
    var password = "benchpw1"

    @Option(help: "Login attempts per second on fresh connections (each logs in, then out).")
    var logins = 0.0

    @Option(help: "Accounts the login storm cycles through (default: --clients, at least 1).")
    var users: Int?

    @Option(help: "Clients that log in and then never read again.")
    var stalled = 0

    @Option(help: "Logins in progress at once while connecting.")
    var inflight = 32

    @Option(help: "Seconds allowed for connecting and logging everyone in.")
    var connectTimeout = 300.0

    @Flag(help: "Connect over TLS, checking the server's certificate against the system's store or --ca.")
    var tls = false

    @Option(help: ArgumentHelp("With --tls: trust only the certificate authorities in this PEM file.", valueName: "file"))
    var ca: String?

    @Flag(help: "With --tls: do not check the server's certificate.")
    var insecure = false

    @Option(help: "Every client joins this room after login; the senders say their messages in it instead of broadcasting.")
    var room: String?

    @Flag(help: "Print the report as one JSON object.")
    var json = false

    func validate() throws {
        guard (1...65_535).contains(port) else { throw ValidationError("--port must be 1–65535") }
        guard clients >= 0, senders >= 0, stalled >= 0 else { throw ValidationError("counts must not be negative") }
        guard rate >= 0, logins >= 0 else { throw ValidationError("rates must not be negative") }
        guard (0...1).contains(direct) else { throw ValidationError("--direct is a fraction from 0 to 1") }
        guard size >= 24, size <= 60_000 else { throw ValidationError("--size must be 24–60000 bytes") }
        guard duration > 0, warmup >= 0, inflight > 0 else { throw ValidationError("--duration and --inflight must be positive") }
        guard clients + stalled > 0 || logins > 0 else { throw ValidationError("nothing to do: no clients, no logins") }
        if (ca != nil || insecure) && !tls { throw ValidationError("--ca and --insecure go with --tls") }
        if ca != nil && insecure { throw ValidationError("--ca and --insecure exclude each other") }
        if let room, !RoomRules.isValidName(room) {
            throw ValidationError("--room must be 1–\(RoomRules.maxNameLength) of A–Z a–z 0–9 _ - (no '#')")
        }
    }

    func run() throws {
        var limit = rlimit()
        getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
        limit.rlim_cur = limit.rlim_max
        setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
        signal(SIGPIPE, SIG_IGN)
        signal(SIGINT) { _ in benchInterrupted = 1 }
        signal(SIGTERM) { _ in benchInterrupted = 1 }
        var plan = BenchPlan(
            host: host, port: port, webSocket: transport == .ws, path: path, clients: clients, senders: senders,
            rate: clients > 0 ? rate : 0, directFraction: direct, size: size, duration: duration, warmup: warmup,
            userPrefix: userPrefix, password: password, users: users ?? max(clients, 1), loginRate: logins,
            stalled: stalled, inflight: inflight, connectTimeout: connectTimeout, room: room)
        if tls {
            do {
                plan.tls = try TLSClientContext(trust: insecure ? .none : ca.map { .caFile($0) } ?? .systemStore)
            } catch {
                throw BenchError("parley bench: \(error)")
            }
            if insecure { FileHandle.standardError.write(Data("parley bench: \(TLSClientContext.insecureWarning)\n".utf8)) }
        }
        let report = try BenchRun(plan: plan).run()
        if let reason = report.firstTLSFailure {
            FileHandle.standardError.write(Data("parley bench: \(report.tlsHandshakesFailed) TLS handshakes failed; the first: \(reason)\n".utf8))
        }
        print(json ? Self.json(report, plan) : Self.text(report, plan))
    }

    // MARK: Reports

    static func fields(_ r: BenchReport, _ plan: BenchPlan) -> [(String, String)] {
        func ms(_ microseconds: UInt64) -> String { String(format: "%.2f", Double(microseconds) / 1000) }
        func perSecond(_ n: Int) -> String { String(format: "%.0f", r.window > 0 ? Double(n) / r.window : 0) }
        var out: [(String, String)] = [
            ("transport", plan.webSocket ? "ws" : "tcp"),
            ("clients", String(r.clientsOnline)), ("clients_failed", String(r.clientsFailed)),
            ("connect_s", String(format: "%.2f", r.connectSeconds)), ("window_s", String(format: "%.2f", r.window)),
            ("broadcasts_sent", String(r.broadcastsSent)), ("directs_sent", String(r.directsSent)),
            ("acknowledged", String(r.acknowledged)), ("errors", String(r.errors.values.reduce(0, +))),
            ("deliveries", String(r.deliveries)), ("expected", String(r.expected)),
            ("delivery_ratio", String(format: "%.3f", r.expected > 0 ? Double(r.deliveries) / Double(r.expected) : 0)),
            ("deliveries_per_s", perSecond(r.deliveries)),
            ("latency_ms_p50", ms(r.latency.percentile(50))), ("latency_ms_p90", ms(r.latency.percentile(90))),
            ("latency_ms_p99", ms(r.latency.percentile(99))), ("latency_ms_p999", ms(r.latency.percentile(99.9))),
            ("latency_ms_max", ms(r.latency.maximum)),
            ("driver_cpu_util", String(format: "%.2f", r.window > 0 ? r.driverCPU / r.window : 0)),
        ]
        if let room = plan.room {
            out.insert(contentsOf: [("room", room), ("says_sent", String(r.saysSent)), ("joins_failed", String(r.joinsFailed))],
                       at: 5)
        }
        if plan.tls != nil {
            out.insert(contentsOf: [("tls", "on"), ("tls_handshakes_failed", String(r.tlsHandshakesFailed))], at: 1)
        }
        if plan.loginRate > 0 {
            out += [
                ("logins_offered", String(r.loginsOffered)), ("logins_served", String(r.loginsServed)),
                ("logins_served_per_s", perSecond(r.loginsServed)), ("logins_refused_busy", String(r.loginsBusy)),
                ("logins_failed", String(r.loginsFailed)), ("logins_skipped", String(r.loginsSkipped)),
                ("login_ms_p50", ms(r.loginLatency.percentile(50))), ("login_ms_p99", ms(r.loginLatency.percentile(99))),
            ]
        }
        if plan.stalled > 0 {
            out += [("stalled_online", String(r.stalledOnline)), ("stalled_disconnected", String(r.stalledDisconnected))]
        }
        return out
    }

    static func json(_ r: BenchReport, _ plan: BenchPlan) -> String {
        let body = fields(r, plan).map { key, value in
            let isNumber = Double(value) != nil
            return "\"\(key)\":" + (isNumber ? value : "\"\(value)\"")
        }
        return "{" + body.joined(separator: ",") + "}"
    }

    static func text(_ r: BenchReport, _ plan: BenchPlan) -> String {
        let f = Dictionary(fields(r, plan), uniquingKeysWith: { a, _ in a })
        let errorDetail: String = r.errors.keys.sorted().map { "\($0)=\(r.errors[$0] ?? 0)" }.joined(separator: " ")
        var lines: [String] = [
            "parley bench: \(r.clientsOnline) clients over \(f["transport"]!)\(plan.tls == nil ? "" : " (TLS)") to \(plan.host):\(plan.port), "
                + "\(plan.senders) senders, \(plan.rate) msg/s (\(Int(plan.directFraction * 100))% direct), \(plan.size)-byte text"
                + (plan.room.map { " in #\($0)" } ?? ""),
            "connected and logged in: \(r.clientsOnline)/\(plan.clients) in \(f["connect_s"]!) s; measured \(f["window_s"]!) s",
            "sent: " + (plan.room.map { "\(r.saysSent) in #\($0)" } ?? "\(r.broadcastsSent) broadcasts")
                + ", \(r.directsSent) direct; acknowledged \(r.acknowledged); errors \(f["errors"]!) \(errorDetail)",
            "deliveries: \(r.deliveries) of \(r.expected) expected (\(f["delivery_ratio"]!)), \(f["deliveries_per_s"]!)/s",
            "latency ms: p50 \(f["latency_ms_p50"]!)  p90 \(f["latency_ms_p90"]!)  p99 \(f["latency_ms_p99"]!)  "
                + "p99.9 \(f["latency_ms_p999"]!)  max \(f["latency_ms_max"]!)",
        ]
        if let room = plan.room, r.joinsFailed > 0 {
            lines.append("\(r.joinsFailed) clients could not join #\(room) (first refusal: \(r.firstJoinFailure ?? "?")) and were left out")
        }
        if plan.loginRate > 0 {
            lines.append("logins: offered \(r.loginsOffered), served \(r.loginsServed) (\(f["logins_served_per_s"]!)/s), "
                + "refused busy \(r.loginsBusy), failed \(r.loginsFailed), skipped \(r.loginsSkipped); "
                + "time to welcome p50 \(f["login_ms_p50"]!) ms, p99 \(f["login_ms_p99"]!) ms")
        }
        if plan.stalled > 0 {
            lines.append("stalled: \(r.stalledOnline) logged in and stopped reading; disconnected by the server: \(r.stalledDisconnected)")
        }
        return lines.joined(separator: "\n")
    }
}
