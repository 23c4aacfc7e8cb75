/// Who on this node a room's live messages go to, kept between messages so that a fan-out is one pass over a
/// compact array of connection ids rather than a presence lookup and a visit to a session object per member: with
/// a thousand members those cache misses cost more than the rest of the hub's work for the message.
///
/// A room's audience is built from the members, presence and the sessions' replay state the first time a message
/// needs it, and forgotten (`RoomDirectory.audienceChanged`) whenever one of those changes for a member: the
/// membership itself (`RoomDirectory.add/remove`), a member's session going online or ending, and a session's
/// room replay starting or ending. What varies per message (the sender, who blocked the sender) is applied at
/// fan-out.
struct RoomAudience {
    /// A live session of a member: everything the fan-out reads of it.
    struct Listener {
        let id: ClientID
        let user: String
        /// The highest seq of this room its replay handed it: a live message at or below it was shown already
        /// (in a cluster a notice can arrive after the replay read the same message from the store).
        let handedUpTo: Int64
    }

    /// Sessions that speak JSON (lines or WebSocket) and the text dialogue: each gets its own encoding.
    private(set) var json: [Listener] = []
    private(set) var text: [Listener] = []
    /// Sessions whose login replay is running: a live message waits in the session until the replay is over.
    private(set) var replaying: [Session] = []

    init(of room: Room, presence: any PresenceDirectory) {
        json.reserveCapacity(room.members.count)
        for user in room.members.keys {
            guard let session = presence.session(of: user), !session.isClosed else { continue }
            if session.roomReplay != nil {
                replaying.append(session)
                continue
            }
            let listener = Listener(id: session.id, user: user, handedUpTo: session.roomHandedUpTo[room.name] ?? 0)
            switch session.door {
            case .json: json.append(listener)
            case .text: text.append(listener)
            case .rest: break  // never online
            }
        }
    }

    /// The connections `message` goes to, by dialogue: every listener but the sender's session, members who
    /// blocked the sender (`blockers`, usually empty) and sessions whose replay already showed it.
    func recipients(of message: RoomMessage, senderID: ClientID?, blockers: Set<String>) -> (json: [ClientID], text: [ClientID]) {
        func pick(_ listeners: [Listener]) -> [ClientID] {
            var ids: [ClientID] = []
            ids.reserveCapacity(listeners.count)
            if blockers.isEmpty {
                for l in listeners where l.id != senderID && message.seq > l.handedUpTo { ids.append(l.id) }
            } else {
                for l in listeners where l.id != senderID && message.seq > l.handedUpTo && !blockers.contains(l.user) {
                    ids.append(l.id)
                }
            }
            return ids
        }
        return (pick(json), text.isEmpty ? [] : pick(text))
    }
}
