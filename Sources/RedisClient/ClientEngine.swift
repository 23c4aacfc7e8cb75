import Logging
import ParleySupport

/// The channels the client is subscribed to and who hears each one. Kept apart from the connection, because it
/// must outlive it: after a reconnect the subscriber link subscribes to all of them again. Confined to the client
/// thread.
final class SubscriptionTable {
    private var handlers: [String: RedisClient.MessageHandler] = [:]

    /// Every channel, sorted so that a re-subscription sends them in a stable order.
    var channels: [String] { handlers.keys.sorted() }

    func handler(for channel: String) -> RedisClient.MessageHandler? { handlers[channel] }

    /// Sets the handler of each channel; returns the channels that were not subscribed before.
    func add(_ channels: [String], handler: @escaping RedisClient.MessageHandler) -> [String] {
        var added: [String] = []
        for channel in channels {
            if handlers.updateValue(handler, forKey: channel) == nil { added.append(channel) }
        }
        return added
    }

    /// Removes the channels; returns those that were subscribed.
    func remove(_ channels: [String]) -> [String] {
        channels.filter { handlers.removeValue(forKey: $0) != nil }
    }
}

/// What other threads may read about the client at any time: whether it is up and why it is not.
struct ClientStatus {
    var isUp = false
    var lastError: RedisError?
}

/// The client thread's body: one epoll wait for the request queue's eventfd and both links' sockets, with a
/// timeout that is the nearest of their deadlines. Everything here runs on that thread; the object is created
/// by `RedisClient.init` and handed to the thread at `start`, and nothing else touches it until `join`.
final class ClientEngine: @unchecked Sendable {
    private let queue: RequestQueue
    private let poller: Poller
    private let commands: HiredisLink
    private let subscriber: HiredisLink
    private let subscriptions = SubscriptionTable()
    private let status: PThreadMutex<ClientStatus>
    private let stateHooks: PThreadMutex<[@Sendable (Bool) -> Void]>
    private let logger: Logger
    private let url: RedisURL
    private var isUp = false
    private static let wakeToken: UInt64 = 0

    init(url: RedisURL, name: String, options: RedisClient.Options, logger: Logger, queue: RequestQueue,
         status: PThreadMutex<ClientStatus>, stateHooks: PThreadMutex<[@Sendable (Bool) -> Void]>) throws(RedisError) {
        self.queue = queue
        self.status = status
        self.stateHooks = stateHooks
        self.logger = logger
        self.url = url
        poller = try Poller()
        commands = HiredisLink(role: "commands", token: 1, url: url, connectionName: name, settings: options,
                               poller: poller, logger: logger, subscriptions: nil)
        subscriber = HiredisLink(role: "subscriber", token: 2, url: url, connectionName: name + "-sub",
                                 settings: options, poller: poller, logger: logger, subscriptions: subscriptions)
    }

    func run() {
        poller.set(queue.wakeDescriptor, from: [], to: .read, token: Self.wakeToken)
        var requests: [ClientRequest] = []
        var events: [PollEvent] = []
        var stopping = false
        while !stopping {
            settle()
            let now = MonotonicClock.now()
            let deadline = [commands.nextDeadline, subscriber.nextDeadline].compactMap { $0 }.min()
            poller.wait(timeoutNanoseconds: deadline.map { $0 > now ? $0 - now : 0 }, into: &events)
            for event in events {
                switch event.token {
                case commands.token: commands.handle(event)
                case subscriber.token: subscriber.handle(event)
                default:
                    stopping = queue.takeAll(into: &requests)
                    apply(requests)
                    requests.removeAll(keepingCapacity: true)
                }
            }
        }
        shutDown()
    }

    /// Carries out requests in the order they were posted. A command for a link that is not ready fails at once:
    /// while Redis is away the cluster must hear "down" now, not wait behind a queue that grows without bound.
    private func apply(_ requests: [ClientRequest]) {
        let now = MonotonicClock.now()
        for request in requests {
            switch request {
            case .command(let command, let done):
                if !commands.isReady || !commands.send(command, kind: .command(done), now: now) {
                    done(.failure(.disconnected))
                }
            case .subscribe(let channels, let handler, let done):
                // Recorded even while down: the next connection subscribes to every channel in the table.
                let added = subscriptions.add(channels, handler: handler)
                if added.isEmpty {
                    done?(subscriber.context == nil ? .failure(.disconnected) : .success(()))
                } else if !subscriber.subscribe(added, now: now, done: done) {
                    done?(.failure(.disconnected))
                }
            case .unsubscribe(let channels):
                subscriber.unsubscribe(subscriptions.remove(channels))
            }
        }
    }

    /// Deals with what events and time have left: drops and timeouts, retries that are due, and the up/down state.
    private func settle() {
        let now = MonotonicClock.now()
        for link in [commands, subscriber] {
            if let reason = link.settle(now: now) { connectionLost(link, reason: reason) }
            if link.retryDue(now: now), let reason = link.connect(now: now) { connectionLost(link, reason: reason) }
        }
        // A connect that fails at once (say an unknown host) needs no further look until its retry is due.
        let up = commands.isReady && subscriber.isReady
        guard up != isUp else { return }
        isUp = up
        status.withLock { status in
            status.isUp = up
            if up { status.lastError = nil }
        }
        if up { logger.info("redis is up", metadata: ["redis": "\(url)"]) }
        for hook in stateHooks.withLock({ $0 }) { hook(up) }
    }

    private func connectionLost(_ link: HiredisLink, reason: String) {
        let error = RedisError.connectionFailed("\(url.host):\(url.port): \(reason)")
        let wasKnown = status.withLock { status in
            defer { status.lastError = error }
            return status.lastError == error
        }
        // One warning per distinct reason: an outage retried every 2 s would otherwise flood the log.
        let level: Logger.Level = wasKnown ? .debug : .warning
        logger.log(level: level, "redis \(link.role) connection lost, retrying", metadata: [
            "redis": "\(url)", "reason": "\(reason)",
        ])
    }

    /// Stops for good: fails what is queued and what is in flight with `.stopped`, exactly once each, closes both
    /// connections, and reports "down" to the hooks if the client was up.
    private func shutDown() {
        for request in queue.close() { request.fail(with: .stopped) }
        for link in [commands, subscriber] {
            link.lostReplyError = .stopped
            link.drop("the client stopped")
            _ = link.settle(now: MonotonicClock.now())
        }
        poller.set(queue.wakeDescriptor, from: .read, to: [], token: Self.wakeToken)
        if isUp {
            isUp = false
            status.withLock { $0.isUp = false }
            for hook in stateHooks.withLock({ $0 }) { hook(false) }
        }
    }
}
