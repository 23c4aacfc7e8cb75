/// Rooms across nodes. Membership, owner and bans are decided by the node the request came to and stored; the
/// others hear of it (`roomChanged`), read the room again from the shared store, which is the truth, and tell
/// their own online members. Room messages travel whole (`roomMessage`), as broadcasts do, since every node may
/// have members of the room online.
extension ChatService {
    /// Reads `name` from the store, then replaces this node's copy of it and announces `notice` to the room's
    /// members here. Runs with the hub's lock held; the read comes back through `resume(_:)`.
    func rereadRoom(_ name: String, then notice: RoomNotice?) {
        store.room(named: name) { [self] result in resume(.roomReread(name, notice, result)) }
    }

    func roomReread(_ name: String, _ notice: RoomNotice?, _ result: Result<RoomRecord?, any Error>) {
        switch result {
        case .failure(let error):
            logger.error("room read failed", metadata: ["room": "\(name)", "error": "\(error)"])
        case .success(nil):
            rooms.discard(name)
        case .success(let record?):
            let known = rooms.room(name)
            // Keep the further of the two last seqs: a message notice may have overtaken the store read.
            var record = record
            record.lastSeq = max(record.lastSeq, known?.lastSeq ?? 0)
            let room = rooms.load(record)
            if let notice { announce(notice, in: room, except: notice.by) }
        }
    }
}

extension ChatService {
    /// Reads a room this node does not know before deciding a request about it.
    func lookUpRoom(_ name: String, then next: AfterRoomRead) {
        store.room(named: name) { [self] result in resume(.roomLookedUp(name, result, next)) }
    }

    func roomLookedUp(_ name: String, _ result: Result<RoomRecord?, any Error>, _ next: AfterRoomRead) {
        switch next {
        case .join(let user, let re, let session, let retried):
            guard session.onlineUser == user else { return }
            switch result {
            case .failure(let error):
                logger.error("room read failed", metadata: ["room": "\(name)", "error": "\(error)"])
                reply(session, .error(re: re, ChatError(.internalError, "the room could not be read; try again")))
            case .success(let record):
                if var record {
                    record.lastSeq = max(record.lastSeq, rooms.room(name)?.lastSeq ?? 0)
                    rooms.load(record)
                }
                join(user, name, re: re, session, retried: retried)
            }
        }
    }
}

/// What a cluster node does once the store has said what it holds of a room it did not know.
enum AfterRoomRead {
    case join(String, RequestID?, Session, retried: Bool)
}

/// What a room change is announced as, on the node it happened on and on the others.
struct RoomNotice {
    /// Who joined, left, or was removed, banned or unbanned.
    let user: String
    let change: RoomChangeKind
    /// Who did it: the owner for moderation, the member themself otherwise.
    let by: String?
}
