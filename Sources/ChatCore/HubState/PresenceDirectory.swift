/// Who is online and on which session, whose login or registration is in flight (the name is reserved so a
/// second one gets `already_online` / `user_exists`), and when each user last logged out (for whoelsesince).
///
/// One session per user (docs/PROTOCOL.md §3). On a single node `LocalPresence` is the whole truth. A cluster
/// implementation would keep these entries in Redis and hold a replica here, kept in step through the bus, so
/// every read below stays a synchronous lookup under the hub's serialisation; its entries for users on other
/// nodes would carry the node instead of a local `Session`.
protocol PresenceDirectory: AnyObject {
    /// The session `user` is online on, or nil.
    func session(of user: String) -> Session?
    var onlineCount: Int { get }
    /// Visits every online user without copying the table (fan-out is one pass over it).
    func forEachOnline(_ body: (_ user: String, _ session: Session) -> Void)
    /// Users online now, plus (with `cutoff`) everyone who logged out at or after it.
    func users(onlineOrSeenSince cutoff: Int64?) -> Set<String>

    /// Claims `user` for a login or registration in flight.
    func reserve(_ user: String)
    func release(_ user: String)
    func isReserved(_ user: String) -> Bool

    func setOnline(_ user: String, _ session: Session)
    /// `user` logged out, timed out or dropped (the hub records when with `setSeen`).
    func setOffline(_ user: String)
    /// Login history: `user` was online at `time` (written at login too, so a crash still leaves a trace).
    func setSeen(_ user: String, at time: Int64)
}

/// The single-node presence directory. Who is online lives here only; login history starts from what the store
/// kept (the hub writes every login and logout through to it), so whoelsesince reaches back across restarts.
final class LocalPresence: PresenceDirectory {
    private var online: [String: Session] = [:]
    private var reserved: Set<String> = []
    private var lastSeen: [String: Int64] = [:]

    /// `lastSeen`: the login history kept in the store, so whoelsesince answers the same after a restart.
    init(lastSeen: [String: Int64] = [:]) {
        self.lastSeen = lastSeen
    }

    func session(of user: String) -> Session? { online[user] }

    var onlineCount: Int { online.count }

    func forEachOnline(_ body: (String, Session) -> Void) {
        for (user, session) in online { body(user, session) }
    }

    func users(onlineOrSeenSince cutoff: Int64?) -> Set<String> {
        var names = Set(online.keys)
        if let cutoff {
            for (name, at) in lastSeen where at >= cutoff { names.insert(name) }
        }
        return names
    }

    func reserve(_ user: String) { reserved.insert(user) }
    func release(_ user: String) { reserved.remove(user) }
    func isReserved(_ user: String) -> Bool { reserved.contains(user) }

    func setOnline(_ user: String, _ session: Session) { online[user] = session }

    func setSeen(_ user: String, at time: Int64) {
        lastSeen[user] = time
    }

    func setOffline(_ user: String) {
        online[user] = nil
    }
}
