import ChatCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The command prompt after login: typed lines become protocol requests (`TypedCommand`), replies and
/// events become terminal lines (`ReplyPrinter`). The next prompt waits for the reply (briefly: at most
/// `replyPatience`), so a script's output comes in the order of its commands; events are printed whenever
/// they arrive, and replies are matched to their requests by id.
///
/// Private messaging (`PrivateSessions`) goes straight to the peer; the server only introduces the two clients
/// and hears an `activity` for each P2P command, since those count against the idle timeout (docs/PROTOCOL.md §7).
/// A request to private message us is asked in place of the prompt (`ConsentQueue`).
///
/// What the screen has shown is acknowledged (`AckSchedule`, docs/PROTOCOL.md §11.2) once per read of the
/// socket, with a trailing ack through the poll() timeout (`waitLimit`), and never after asking to log out; each
/// room's cursor is acknowledged the same way (`RoomAckSchedule`, docs/PROTOCOL.md §12).
final class CommandLoop: SessionPhase {
    /// The server's line limit (docs/PROTOCOL.md §2): a longer request would cost the connection.
    static let maxRequestBytes = 65_536
    /// How long to wait for `bye` after asking to log out.
    static let logoutGrace: Duration = .seconds(5)
    /// How long the next prompt waits for the reply to the last command.
    static let replyPatience: Duration = .seconds(2)

    let user: String
    private let connection: ChatConnection
    private let console: Console
    private let p2p: PrivateSessions
    private var questions = ConsentQueue()
    private var printer = ReplyPrinter()
    private var acks = AckSchedule()
    private var roomAcks = RoomAckSchedule()
    private var pending: [Int64: ClientRequest] = [:]
    private var logoutDeadline: ContinuousClock.Instant?
    /// Set while the next prompt waits for replies.
    private var promptDeferredUntil: ContinuousClock.Instant?

    init(user: String, connection: ChatConnection, console: Console, p2p: PrivateSessions) {
        self.user = user
        self.connection = connection
        self.console = console
        self.p2p = p2p
        p2p.user = user
    }

    func start() { prompt() }

    var waitLimit: ContinuousClock.Instant? {
        let ackDeadlines = logoutDeadline == nil ? [acks.deadline, roomAcks.deadline] : []
        return ([logoutDeadline ?? promptDeferredUntil, p2p.nextDeadline, questions.nextExpiry] + ackDeadlines)
            .compactMap { $0 }.min()
    }

    func waitLimitReached() -> PhaseStep {
        let now = ContinuousClock.now
        if let deadline = logoutDeadline {
            // The server never answered the logout: the user asked to leave, so leave.
            if now >= deadline { return finish(.loggedOut) }
        } else {
            if let deferred = promptDeferredUntil, now >= deferred {
                // A slow reply doesn't hold the keyboard any longer; it is printed when it comes.
                promptDeferredUntil = nil
                prompt()
            }
            let ackDue = [acks.deadline, roomAcks.deadline].compactMap { $0 }.min()
            if let due = ackDue, now >= due, case .end(let end) = acknowledgeShown(now: now) {
                return .end(end)
            }
        }
        show(p2p.expire(now: now))
        if questions.expire(now: now) { questionChanged() }
        return .stay
    }

    var peerPollFDs: [pollfd] { p2p.pollFDs() }

    func framesHandled() -> PhaseStep { acknowledgeShown(now: .now) }

    /// Sends the ack the schedule says is due, if any. Only the socket hears of it: no line, no prompt change.
    private func acknowledgeShown(now: ContinuousClock.Instant) -> PhaseStep {
        guard logoutDeadline == nil else { return .stay }
        if let seq = acks.due(highestShown: printer.shown.highestSeq, now: now), !connection.sendAck(upTo: seq) {
            return connectionClosed()
        }
        for ack in roomAcks.due(highestShown: printer.shownRooms.highestSeqs, now: now) {
            guard connection.sendRoomAck(ack.room, upTo: ack.seq) else { return connectionClosed() }
        }
        return .stay
    }

    func peerEventsReady(_ ready: [pollfd]) -> PhaseStep {
        show(p2p.handle(ready, now: .now))
        return .stay
    }

    func interrupted() -> PhaseStep { logout() }

    func connectionClosed() -> PhaseStep {
        if logoutDeadline != nil { return finish(.loggedOut) }  // the server closed after (or instead of) `bye`
        console.printLine(ClientTexts.connectionLost)
        return finish(.connectionLost)
    }

    /// A logged-in session is never silently resumed: the user must know they were gone.
    func reconnected(_ connection: ChatConnection) -> PhaseStep { finish(.connectionLost) }

    func handle(_ event: InputEvent) -> PhaseStep {
        switch event {
        case .endOfInput, .interrupt:
            return logout()
        case .line(let line):
            if logoutDeadline != nil { return .stay }  // logging out: the rest of the input is not for us
            let step: PhaseStep
            if let asker = questions.current, let answer = ConsentQueue.answer(line) {
                step = answerRequest(of: asker, with: answer)
            } else {
                step = run(line)
            }
            if case .stay = step, logoutDeadline == nil {
                if pending.isEmpty {
                    prompt()
                } else {
                    promptDeferredUntil = ContinuousClock.now + Self.replyPatience
                }
            }
            return step
        }
    }

    func handle(_ frame: ServerFrame) -> PhaseStep {
        let request = frame.re.flatMap { pending.removeValue(forKey: $0) }
        if case .privatereply(let asker, true)? = request, frame.type == "error" { p2p.consentFailed(for: asker) }
        handlePrivateEvent(frame)
        let output = printer.output(for: frame, answering: request)
        for line in output.lines { console.printLine(line) }
        if let end = output.end {
            // A `bye` we didn't ask for still means the server logged us out cleanly.
            return finish(end)
        }
        if promptDeferredUntil != nil, pending.isEmpty, logoutDeadline == nil {
            promptDeferredUntil = nil
            prompt()
        }
        return .stay
    }

    /// Carries out one typed line.
    private func run(_ line: String) -> PhaseStep {
        if line.trimmingBlanks.isEmpty { return .stay }
        guard let command = TypedCommand.parse(line) else {
            console.printLine(Texts.invalidCommand)
            return .stay
        }
        switch command {
        case .server(.logout):
            return logout()
        case .server(let request):
            // `startprivate` too: the server checks it, and as a valid command it is activity by itself.
            return send(request)
        // These never reach the server, so it is told they happened (docs/PROTOCOL.md §7), whatever their outcome.
        case .privateMessage(let peer, let text):
            show(p2p.send(text, to: peer))
            return send(.activity)
        case .stopPrivate(let peer):
            show(p2p.stop(peer, now: .now))
            return send(.activity)
        }
    }

    /// The user answered the question of `asker`. On yes the session exists at once (docs/PROTOCOL.md §9); the
    /// asker's connection follows after the server has handed out the token.
    private func answerRequest(of asker: String, with answer: ConsentQueue.Answer) -> PhaseStep {
        questions.remove(asker)
        if answer == .yes { p2p.consented(to: asker, now: .now) }
        return send(.privatereply(user: asker, accept: answer == .yes))
    }

    /// The server's part of private messaging: requests to us, and introductions to peers.
    private func handlePrivateEvent(_ frame: ServerFrame) {
        switch frame.type {
        case "private_request":
            guard let asker = frame.string("from") else { return }
            if questions.add(asker, now: .now) { questionChanged() }
        case "private_pending":
            guard let peer = frame.string("user"), let token = frame.string("token") else { return }
            show(p2p.pending(from: peer, token: token, now: .now))
        case "private_accepted":
            guard let peer = frame.string("user"), let host = frame.string("host"), let token = frame.string("token"),
                  let port = frame["port"]?.integerValue else { return }
            show(p2p.accepted(by: peer, host: host, port: Int(clamping: port), token: token, now: .now))
        case "presence":
            // The hub forgets the requests of a user who leaves, so the question goes too.
            if frame.string("state") == "out", let user = frame.string("user"), questions.remove(user) {
                questionChanged()
            }
        default:
            break
        }
    }

    /// The question being asked changed: the prompt on the screen follows, keeping what was typed.
    private func questionChanged() {
        guard console.wantsInput else { return }  // the next prompt() shows it
        if let asker = questions.current {
            console.changePrompt(Texts.privateAsk(LineRenderer.printable(asker)))
        } else {
            console.changePrompt(ClientTexts.commandPrompt, shownWhenPlain: false)
        }
    }

    private func show(_ lines: [String]) {
        for line in lines { console.printLine(line) }
    }

    /// Every way the session ends: peers hear of a logout or timeout (they are told the private chat is over);
    /// otherwise their links just close.
    private func finish(_ end: SessionEnd) -> PhaseStep {
        p2p.closeAll(announcingLogout: end == .loggedOut || end == .timedOut)
        return .end(end)
    }

    private func send(_ request: ClientRequest) -> PhaseStep {
        if RequestEncoder.encode(request, id: Int64.max).count + 1 > Self.maxRequestBytes {
            console.printLine(ClientTexts.messageTooLong)
            return .stay
        }
        guard let id = connection.send(request) else { return connectionClosed() }
        pending[id] = request
        return .stay
    }

    /// `logout`, ^D, ^C: ask the server and wait (briefly) for `bye`. Asked twice: leave at once.
    private func logout() -> PhaseStep {
        guard logoutDeadline == nil else { return finish(.loggedOut) }
        // What was shown is acknowledged before the logout, never after it: otherwise the next login gets it again.
        if let seq = acks.final(highestShown: printer.shown.highestSeq, now: .now), !connection.sendAck(upTo: seq) {
            return finish(.loggedOut)
        }
        for ack in roomAcks.final(highestShown: printer.shownRooms.highestSeqs, now: .now) {
            guard connection.sendRoomAck(ack.room, upTo: ack.seq) else { return finish(.loggedOut) }
        }
        logoutDeadline = ContinuousClock.now + Self.logoutGrace
        console.cancelPrompt()
        p2p.closeAll(announcingLogout: true)
        guard connection.send(.logout) != nil else { return finish(.loggedOut) }
        return .stay
    }

    /// The command prompt, or the question of a private-messaging request waiting for its answer.
    private func prompt() {
        if let asker = questions.current {
            console.prompt(Texts.privateAsk(LineRenderer.printable(asker)))
        } else {
            console.prompt(ClientTexts.commandPrompt, shownWhenPlain: false)
        }
    }
}
