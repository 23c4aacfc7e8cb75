/// Going online, presence lines, logout, idle timeout and the end of a session (SPEC.md §2–§3). Every method
/// here runs with the hub's lock held.
extension ChatService {
    /// Welcome, then the offline queue oldest first, then presence to the others (PROTOCOL.md order).
    func goOnline(_ entry: Entry, offline: [StoredMessage], created: Bool = false) {
        let (user, session) = (entry.user, entry.session)
        guard session.state == .entering(user: user) else { return }  // it ended meanwhile, and released the name
        presence.release(user)
        let late = inbox.finishReplay(of: user, into: session)
        session.state = .online(user: user)
        session.lastActivity = clock.now()
        presence.setOnline(user, session)
        metrics.loginsSucceeded += 1
        output.authenticated(session.id)
        reply(session, .welcome(re: entry.re, user: user, token: entry.token, created: created))
        var seen = Set<Int64>()
        for message in offline + late where seen.insert(message.id).inserted {
            reply(session, .message(message, offline: true))
        }
        if !offline.isEmpty {
            metrics.offlineDelivered += offline.count
            store.perform([.markDelivered(offline.map(\.id))]) { _ in }
        }
        announcePresence(of: user, online: true, except: session)
        replayDeferred(session)
    }

    /// Requests pipelined behind the login: handled now that it succeeded, or refused now that it failed.
    func replayDeferred(_ session: Session) {
        let waiting = session.deferred
        session.deferred = []
        for (request, re) in waiting {
            if session.onlineUser != nil {
                handle(request, re: re, session)
            } else {
                reply(session, .error(re: re, ChatError(.notLoggedIn, "log in first")))
            }
        }
    }

    /// SPEC.md §3: if A has blocked B, B gets no presence lines about A.
    func announcePresence(of user: String, online isOnline: Bool, except session: Session) {
        var recipients: [Session] = []
        recipients.reserveCapacity(presence.onlineCount)
        presence.forEachOnline { name, other in
            if other !== session && !blocks.hasBlocked(user, name) { recipients.append(other) }
        }
        // Presence is a fan-out to everyone at every login and logout; coalesced, it rides along with the
        // recipients' other output instead of costing a write per recipient (a login storm stays cheap).
        fanOut(.presence(user: user, online: isOnline), to: recipients, coalesced: true)
    }

    func logOut(_ session: Session, re: RequestID?) {
        if let digest = session.tokenDigest {
            // PROTOCOL.md: logout revokes the token handed out with welcome.
            _ = accounts.removeToken(digest: digest)
            store.perform([.deleteToken(digest: digest)]) { _ in }
        }
        reply(session, .bye(re: re))
        end(session, notifyOthers: true)
        output.disconnect(session.id)
    }

    func timeOut(_ session: Session) {
        metrics.idleLogouts += 1
        reply(session, .timeout)
        end(session, notifyOthers: true)
        output.disconnect(session.id)
    }

    /// Takes the session offline once; every path out (logout, timeout, drop, too-large) ends here.
    func end(_ session: Session, notifyOthers: Bool) {
        let previous = session.state
        session.state = .closed
        switch previous {
        case .online(let user):
            presence.setOffline(user, at: clock.now())
            endPrivateChats(of: user)
            if notifyOthers { announcePresence(of: user, online: false, except: session) }
        case .entering(let user):
            presence.release(user)
            inbox.cancelReplay(of: user, into: session)
        case .authenticating, .anonymous, .closed:
            // A registration in flight keeps its reservation until the store answers.
            break
        }
    }
}
