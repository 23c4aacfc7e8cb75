/// Where a committed direct message goes: to the recipient's live session, into the replay of a login that is
/// fetching its offline queue right now, or into the offline queue. The decision is returned, not carried out:
/// the hub delivers and issues the store writes it names.
///
/// Today the offline queue is the store's `pending` flag: a login fetches every pending message, and a message
/// leaves the queue when it is handed over. This type is where a per-user inbox with sequence numbers and acks
/// would plug in (replay after the acked cursor at login; a message leaves when acked), and, in a cluster,
/// where a message for a user online on another node would be routed to that node through the bus.
final class InboxRouter {
    enum Route: Equatable {
        /// Deliver now; `markDelivered` when the message was stored as pending and must leave the queue.
        case live(Session, markDelivered: Bool)
        /// The recipient's login is replaying its offline queue: the message is part of the replay.
        case replaying
        /// The recipient is offline; `markPending` when the message was stored as delivered and must join the queue.
        case queued(markPending: Bool)

        static func == (a: Route, b: Route) -> Bool {
            switch (a, b) {
            case (.live(let x, let dx), .live(let y, let dy)): x === y && dx == dy
            case (.replaying, .replaying): true
            case (.queued(let x), .queued(let y)): x == y
            default: false
            }
        }
    }

    /// Logins whose offline fetch is under way, with the messages committed meanwhile that the fetch cannot hold.
    private var replays: [String: (session: Session, late: [StoredMessage])] = [:]

    init() {}

    /// `session`'s login for `user` has queued its offline fetch; messages committed from now on until
    /// `finishReplay` are part of the replay.
    func startReplay(of user: String, into session: Session) {
        replays[user] = (session, [])
    }

    /// The login went online: the messages to hand over after the fetched ones (the replay ends).
    func finishReplay(of user: String, into session: Session) -> [StoredMessage] {
        guard let replay = replays[user], replay.session === session else { return [] }
        replays[user] = nil
        return replay.late
    }

    /// The login ended before going online.
    func cancelReplay(of user: String, into session: Session) {
        if replays[user]?.session === session { replays[user] = nil }
    }

    /// Routes `message`, committed with the store's pending flag set iff `storedPending` (the recipient was
    /// offline when it was written), to `live` (the recipient's session now, if any).
    func route(_ message: StoredMessage, storedPending: Bool, live: Session?) -> Route {
        if let live { return .live(live, markDelivered: storedPending) }
        if replays[message.to] != nil {
            // The offline fetch was queued after this insert iff the insert was stored as pending; otherwise the
            // fetch cannot contain it, so it is handed over right after the fetched ones.
            if !storedPending { replays[message.to]?.late.append(message) }
            return .replaying
        }
        return .queued(markPending: !storedPending)
    }

    var replayCount: Int { replays.count }
}
