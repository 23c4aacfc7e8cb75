import ChatCore
import Glibc
import ParleySupport

/// Set by SIGINT or SIGTERM: `parley bench` stops where it is and reports what it measured so far. A global,
/// because a C signal handler can reach nothing else.
nonisolated(unsafe) var benchInterrupted: sig_atomic_t = 0

/// The load loop: one thread, `poll` over every socket, an open-loop send schedule.
///
/// Phase 1 connects the fan-out clients (at most `inflight` logins at a time, as a crowd arriving would) and the
/// stalled ones. Phase 2 sends at the planned rate, round-robin over the senders, each text stamped with its send
/// time, and runs the login storm; only what happens after the warm-up is counted. Latency is receive time minus
/// the stamp (one process, one monotonic clock). With a room, every client joins it once logged in, and the
/// senders say their messages there: a room message is stamped and counted as a broadcast is.
final class BenchRun {
    private let plan: BenchPlan
    private var address = sockaddr_in()
    private var connections: [BenchConnection] = []
    private var pollSet: [pollfd] = []
    private var members: [BenchConnection?]
    private var report = BenchReport()
    private var measuring = false
    private var stormUsersBusy: Set<Int> = []
    private var nextStormUser = 0
    private var sequence = 0
    private var random: UInt64 = 0x9E37_79B9_7F4A_7C15
    private let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 256 * 1024, alignment: 16)

    init(plan: BenchPlan) throws {
        self.plan = plan
        members = Array(repeating: nil, count: plan.clients)
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(plan.port).bigEndian)
        let host = plan.host == "localhost" ? "127.0.0.1" : plan.host
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else { throw BenchError("--host must be an IPv4 address") }
    }

    deinit {
        buffer.deallocate()  // the connections' sockets close themselves
    }

    static func now() -> UInt64 {
        MonotonicClock.now()
    }

    func run() -> BenchReport {
        let start = Self.now()
        connectEveryone(deadline: start + UInt64(plan.connectTimeout * 1e9))
        report.connectSeconds = Double(Self.now() - start) / 1e9
        report.clientsOnline = members.filter { $0?.phase == .online }.count
        // On stderr, beside the report: when the warm-up starts, for a script reading the server's CPU over the
        // measured window (bench/run.sh).
        let notice = "parley bench: \(report.clientsOnline) clients online after \((report.connectSeconds * 100).rounded() / 100) s; "
            + "\(plan.warmup) s of warm-up, then \(plan.duration) s measured\n"
        _ = notice.withCString { write(STDERR_FILENO, $0, strlen($0)) }
        drive()
        // Stalled clients: did the server give up on them (EOF or reset once their backlog is read)?
        for connection in connections where connection.role == .stalled {
            if connection.discardInputAndCheckClosed(using: buffer) { report.stalledDisconnected += 1 }
        }
        return report
    }

    // MARK: Phase 1

    private func connectEveryone(deadline: UInt64) {
        var next = 0
        var stalledOpened = 0
        while benchInterrupted == 0 {
            let inFlight = connections.filter { $0.phase != .online && $0.phase != .closed }.count
            var room = plan.inflight - inFlight
            while room > 0 && stalledOpened < plan.stalled {
                // A small receive buffer makes the server's queue, not the kernel's, hold the backlog soon.
                open(role: .stalled, user: "\(plan.userPrefix)\(plan.clients + stalledOpened)", receiveBuffer: 4096)
                stalledOpened += 1
                room -= 1
            }
            while room > 0 && next < plan.clients {
                members[next] = open(role: .member(next), user: "\(plan.userPrefix)\(next)")
                if members[next] == nil { report.clientsFailed += 1 }
                next += 1
                room -= 1
            }
            let pending = connections.contains { $0.phase != .online && $0.phase != .closed }
            if next >= plan.clients && stalledOpened >= plan.stalled && !pending { break }
            if Self.now() > deadline { break }
            pump(timeoutMilliseconds: 10)
        }
        report.clientsFailed += members.filter { $0 != nil && $0?.phase != .online }.count
    }

    @discardableResult
    private func open(role: BenchConnection.Role, user: String, receiveBuffer: Int32? = nil) -> BenchConnection? {
        guard let socket = BenchConnection.open(address, receiveBuffer: receiveBuffer) else { return nil }
        let connection = BenchConnection(socket: socket, role: role, user: user, webSocket: plan.webSocket, tls: plan.tls,
                                         now: Self.now())
        connections.append(connection)
        pollSet.append(pollfd(fd: socket.fd, events: Int16(POLLOUT), revents: 0))
        return connection
    }

    // MARK: Phase 2

    private func drive() {
        let start = Self.now()
        let measureFrom = start + UInt64(plan.warmup * 1e9)
        let end = measureFrom + UInt64(plan.duration * 1e9)
        let senders = (0..<min(plan.senders, plan.clients)).compactMap { members[$0] }.filter { $0.phase == .online }
        let sendInterval = plan.rate > 0 && !senders.isEmpty ? UInt64(1e9 / plan.rate) : UInt64.max
        let loginInterval = plan.loginRate > 0 ? UInt64(1e9 / plan.loginRate) : UInt64.max
        // A schedule that never runs (no senders, no storm) is never due: left at `start`, it would make every
        // poll below return at once, a busy loop beside the run the tool is meant to load.
        var nextSend = sendInterval == .max ? UInt64.max : start
        var nextLogin = loginInterval == .max ? UInt64.max : start
        var senderIndex = 0
        var measuredFrom = start
        var cpuFrom = Self.processCPU()
        while benchInterrupted == 0 {
            var now = Self.now()
            if !measuring && now >= measureFrom {
                measuring = true
                measuredFrom = now
                cpuFrom = Self.processCPU()
                report.latency.reset()
            }
            if now >= end { break }
            while nextSend <= now {
                send(from: senders[senderIndex], stamp: nextSend)
                senderIndex = (senderIndex + 1) % senders.count
                nextSend &+= sendInterval
                // Fell more than a second behind (this machine is saturated): skip ahead rather than burst.
                if nextSend + 1_000_000_000 < now { nextSend = now }
            }
            while nextLogin <= now {
                startStormLogin()
                nextLogin &+= loginInterval
                if nextLogin + 1_000_000_000 < now { nextLogin = now }
            }
            now = Self.now()
            let wake = min(nextSend, nextLogin, end)
            let milliseconds = wake > now ? Int32(min((wake - now) / 1_000_000, 10)) : 0
            pump(timeoutMilliseconds: milliseconds)
        }
        report.window = Double(Self.now() - measuredFrom) / 1e9
        report.driverCPU = Self.processCPU() - cpuFrom
        let online = members.filter { $0?.phase == .online }.count
        report.expected = (report.broadcastsSent + report.saysSent) * max(online - 1, 0) + report.directsSent
    }

    /// This process's CPU time (user and system), seconds: whether the tool itself kept up is part of the report.
    private static func processCPU() -> Double {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        let total = (usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1_000_000 + usage.ru_utime.tv_usec + usage.ru_stime.tv_usec
        return Double(total) / 1e6
    }

    private func nextRandom() -> UInt64 {
        random ^= random << 13
        random ^= random >> 7
        random ^= random << 17
        return random
    }

    private func send(from sender: BenchConnection, stamp: UInt64) {
        guard sender.phase == .online, case .member(let index) = sender.role else { return }
        sequence += 1
        var text = "pb\(stamp)_\(sequence)_"
        if text.utf8.count < plan.size { text += String(repeating: "x", count: plan.size - text.utf8.count) }
        let direct = plan.directFraction > 0 && Double(nextRandom() % 10_000) < plan.directFraction * 10_000
        var json = JSONWriter()
        if direct, plan.clients > 1 {
            var target = Int(nextRandom() % UInt64(plan.clients))
            if target == index { target = (target + 1) % plan.clients }
            json.field("type", "message")
            json.field("to", "\(plan.userPrefix)\(target)")
            if measuring { report.directsSent += 1 }
        } else if let room = plan.room {
            json.field("type", "say")
            json.field("room", room)
            if measuring { report.saysSent += 1 }
        } else {
            json.field("type", "broadcast")
            if measuring { report.broadcastsSent += 1 }
        }
        json.field("text", text)
        sender.send(json.finish())
        if !sender.flush() { drop(sender) }
    }

    private func startStormLogin() {
        if measuring { report.loginsOffered += 1 }
        guard plan.users > 0 else { return }
        // A user still logging in or out from an earlier attempt would be `already_online`: take the next free one.
        var user: Int?
        for offset in 0..<plan.users {
            let candidate = (nextStormUser + offset) % plan.users
            if !stormUsersBusy.contains(candidate) { user = candidate; break }
        }
        guard let user else {
            if measuring { report.loginsSkipped += 1 }
            return
        }
        nextStormUser = (user + 1) % plan.users
        stormUsersBusy.insert(user)
        if open(role: .storm, user: "\(plan.userPrefix)\(user)") == nil {
            stormUsersBusy.remove(user)
            if measuring { report.loginsFailed += 1 }
        }
    }

    // MARK: The poll loop

    private func pump(timeoutMilliseconds: Int32) {
        let now = Self.now()
        for index in pollSet.indices {
            let connection = connections[index]
            if let retry = connection.retryLoginAt, retry <= now {
                connection.retryLoginAt = nil
                sendLogin(connection, register: false)
            }
            var events: Int16 = 0
            if connection.phase == .connecting { events |= Int16(POLLOUT) }
            if connection.phase == .handshaking { events |= connection.handshakeWaitsFor }
            if connection.hasPendingOutput { events |= connection.stream.writeWaitsFor }
            if connection.phase != .connecting && connection.phase != .handshaking
                && !(connection.role == .stalled && connection.phase == .online) {
                events |= connection.stream.readWaitsFor
            }
            pollSet[index].events = events
            pollSet[index].revents = 0
        }
        // A failed or interrupted poll is just a round with nothing ready: the caller's loop comes back at once.
        guard case .ready(let ready) = SystemCall.poll(&pollSet, timeoutMilliseconds: timeoutMilliseconds), ready > 0
        else { return }
        var closed: [BenchConnection] = []
        for index in pollSet.indices where pollSet[index].revents != 0 {
            let connection = connections[index]
            let revents = Int32(pollSet[index].revents)
            if connection.phase == .connecting {
                guard revents & Int32(POLLOUT | POLLERR | POLLHUP) != 0 else { continue }
                guard connection.connected(host: plan.host, port: plan.port, path: plan.path) else {
                    closed.append(connection)
                    continue
                }
                if connection.phase == .loggingIn && !connection.webSocket { sendLogin(connection, register: false) }
            }
            if connection.phase == .handshaking {
                switch connection.continueHandshake(host: plan.host, port: plan.port, path: plan.path) {
                case .pending:
                    continue
                case .failed(let reason):
                    report.tlsHandshakesFailed += 1
                    if report.firstTLSFailure == nil { report.firstTLSFailure = reason }
                    closed.append(connection)
                    continue
                case .done:
                    if !connection.webSocket { sendLogin(connection, register: false) }
                }
            }
            if revents & Int32(POLLIN | POLLERR | POLLHUP) != 0 {
                let wasUpgrading = connection.phase == .upgrading
                let alive = connection.read(into: buffer) { message in self.received(message, on: connection) }
                if wasUpgrading && connection.phase == .loggingIn { sendLogin(connection, register: false) }
                if !alive || connection.phase == .closed {
                    closed.append(connection)
                    continue
                }
            }
            if connection.hasPendingOutput && !connection.flush() { closed.append(connection) }
        }
        for connection in closed { drop(connection) }
    }

    private func drop(_ connection: BenchConnection) {
        guard let index = connections.firstIndex(where: { $0 === connection }) else { return }
        if connection.role == .storm {
            stormUsersBusy.remove(Int(connection.user.dropFirst(plan.userPrefix.count)) ?? -1)
            if measuring && (connection.phase == .loggingIn || connection.phase == .upgrading
                               || connection.phase == .handshaking) { report.loginsFailed += 1 }
        }
        connection.phase = .closed
        connection.socket.close()  // now: `members` keeps the object for the report
        connections.swapAt(index, connections.count - 1)
        pollSet.swapAt(index, pollSet.count - 1)
        connections.removeLast()
        pollSet.removeLast()
    }

    private func sendLogin(_ connection: BenchConnection, register: Bool) {
        var json = JSONWriter()
        json.field("type", register ? "register" : "login")
        json.field("user", connection.user)
        json.field("password", plan.password)
        connection.send(json.finish())
    }

    // MARK: Messages from the server

    private static let typeKey = Array(#""type":""#.utf8)
    private static let codeKey = Array(#""code":""#.utf8)

    private func received(_ message: ArraySlice<UInt8>, on connection: BenchConnection) {
        let type = BenchConnection.stringValue(after: Self.typeKey, in: message) ?? [][...]
        switch type.first {
        case UInt8(ascii: "b") where type.elementsEqual("broadcast".utf8),
             UInt8(ascii: "m") where type.elementsEqual("message".utf8),
             UInt8(ascii: "r") where type.elementsEqual("room_message".utf8):
            guard measuring, let stamp = BenchConnection.stamp(in: message) else { return }
            report.deliveries += 1
            let now = Self.now()
            report.latency.record(microseconds: now > stamp ? (now - stamp) / 1000 : 0)
        case UInt8(ascii: "o") where type.elementsEqual("ok".utf8):
            if connection.phase == .joining {
                connection.phase = .online  // joined (or created) the room
            } else if measuring { report.acknowledged += 1 }
        case UInt8(ascii: "w") where type.elementsEqual("welcome".utf8):
            welcomed(connection)
        case UInt8(ascii: "b") where type.elementsEqual("bye".utf8):
            connection.phase = .closed
        case UInt8(ascii: "e") where type.elementsEqual("error".utf8):
            failed(connection, code: BenchConnection.stringValue(after: Self.codeKey, in: message).map { String(decoding: $0, as: UTF8.self) } ?? "?")
        default:
            break  // presence and anything newer
        }
    }

    private func welcomed(_ connection: BenchConnection) {
        guard connection.phase == .loggingIn else { return }
        connection.phase = .online
        switch connection.role {
        case .storm:
            if measuring {
                report.loginsServed += 1
                report.loginLatency.record(microseconds: (Self.now() - connection.openedAt) / 1000)
            }
            connection.send(Array(#"{"type":"logout"}"#.utf8))
        case .stalled:
            report.stalledOnline += 1
        case .member:
            guard let room = plan.room else { break }
            connection.phase = .joining
            var json = JSONWriter()
            json.field("type", "join")
            json.field("room", room)
            connection.send(json.finish())
        }
    }

    private func failed(_ connection: BenchConnection, code: String) {
        if connection.phase == .joining {
            // A member from an earlier run is as good as a new one; any other refusal leaves the client out.
            if code == "already_member" {
                connection.phase = .online
            } else {
                report.joinsFailed += 1
                if report.firstJoinFailure == nil { report.firstJoinFailure = code }
                connection.phase = .closed
            }
            return
        }
        if connection.phase == .loggingIn {
            if code == "no_such_user" && !connection.triedRegister {
                connection.triedRegister = true
                sendLogin(connection, register: true)
                return
            }
            if connection.role == .storm {
                if measuring { if code == "busy" { report.loginsBusy += 1 } else { report.loginsFailed += 1 } }
                stormUsersBusy.remove(Int(connection.user.dropFirst(plan.userPrefix.count)) ?? -1)
                connection.phase = .closed
                return
            }
            if code == "busy" {
                // The server's hashing queue is full: try again in a moment, as a client would.
                connection.triedRegister = false
                connection.retryLoginAt = Self.now() + 250_000_000
                return
            }
            connection.phase = .closed
            return
        }
        if measuring { report.errors[code, default: 0] += 1 }
    }
}
