/// The hub as the REST API sees it (docs/PROTOCOL.md §10). A REST request is a short-lived session: the router
/// resolves the caller (`authenticate`), then hands the request to `handle(_:from:peerHost:reply:)`, the same
/// dispatch the socket doors use, so REST shares the lockout, the limits, the block rules and the message path.
/// Such a session is never "online": no presence, no idle timer. Completions run after the hub's lock is
/// released, so a completion may call the hub again.
extension ChatService {
    /// How a REST request proves who it is.
    public enum Credentials: Sendable, Equatable {
        case bearer(String)
        case basic(user: String, password: String)
    }

    /// Resolves credentials to a user name. A Basic password goes through the same checks as a socket login,
    /// failures included (docs/PROTOCOL.md §3: no door is a way around the lockout), and counts against `peerHost`'s
    /// attempt budget (nil: a caller that is not a network peer).
    public func authenticate(_ credentials: Credentials, peerHost: String? = nil,
                             completion: @escaping @Sendable (Result<String, ChatError>) -> Void) {
        switch credentials {
        case .bearer(let token):
            let digest = Tokens.digest(token)
            let known: Result<String, ChatError>? = serialized {
                if let user = accounts.user(forToken: digest, now: clock.now()) { return .success(user) }
                // cluster: a token another node handed out a moment ago may not have reached this one yet; the
                // store answers, and the completion runs then.
                if cluster != nil, accounts.token(digest: digest) == nil {
                    lookUpToken(digest, then: .bearer(completion))
                    return nil
                }
                return .failure(Self.badTokenError)
            }
            if let known { completion(known) }
        case .basic(let user, let password):
            serialized {
                checkPassword(PasswordCheck(user: user, password: password, peerHost: peerHost,
                                            purpose: .credentials(completion)))
            }
        }
    }

    /// One request as a REST session for `user` (nil: anonymous, for `login` and `register`, which end in a
    /// `welcome` carrying a new token rather than in going online). `reply` gets exactly one event.
    /// `bearerToken`: the token the caller presented, so a long poll made with it ends when it is revoked.
    public func handle(_ request: ClientRequest, from user: String?, peerHost: String? = nil,
                       bearerToken: String? = nil, reply: @escaping @Sendable (ServerEvent) -> Void) {
        serialized {
            let session = Session(restUser: user, peerHost: peerHost, now: clock.now(), reply: reply)
            session.tokenDigest = bearerToken.map(Tokens.digest)
            handle(request, re: nil, session)
        }
    }

    /// `POST /api/logout` with a bearer token: revokes it. Returns false if it was not known.
    public func revokeToken(_ token: String) -> Bool {
        serialized {
            let digest = Tokens.digest(token)
            guard accounts.token(digest: digest) != nil else { return false }
            revoke(digest: digest)
            return true
        }
    }

    /// Who `user` has blocked, for `GET /api/blocks`.
    public func blockedUsers(of user: String) -> [String] {
        serialized { blocks.blocked(by: user) }
    }
}
