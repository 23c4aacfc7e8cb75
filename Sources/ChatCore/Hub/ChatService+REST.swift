/// The hub as the REST API sees it (PROTOCOL.md "REST"). REST callers are not sessions: they are not
/// "online", get no presence and reset no idle timer, but they share the lockout, the block rules and the
/// message path with the socket doors. Every completion runs with the hub's lock held; callers only enqueue
/// their HTTP response there.
extension ChatService {
    /// How a REST request proves who it is.
    public enum Credentials: Sendable, Equatable {
        case bearer(String)
        case basic(user: String, password: String)
    }

    /// Resolves credentials to a user name. A Basic password goes through the same checks as a socket login,
    /// failures included (SPEC.md §2.3: no door is a way around the lockout), and counts against `peerHost`'s
    /// attempt budget (nil: a caller that is not a network peer).
    public func authenticate(_ credentials: Credentials, peerHost: String? = nil,
                             completion: @escaping @Sendable (Result<String, ChatError>) -> Void) {
        locked {
            switch credentials {
            case .bearer(let token):
                guard let user = userForToken(token) else {
                    return completion(.failure(ChatError(.badToken, "the token is unknown, expired or revoked")))
                }
                completion(.success(user))
            case .basic(let user, let password):
                checkPassword(user, password, peerHost: peerHost) { error in
                    completion(error.map { .failure($0) } ?? .success(user))
                }
            }
        }
    }

    /// `POST /api/login`: checks the password and hands out a new bearer token.
    public func issueToken(user: String, password: String, peerHost: String? = nil,
                           completion: @escaping @Sendable (Result<String, ChatError>) -> Void) {
        locked {
            checkPassword(user, password, peerHost: peerHost) { [self] error in
                if let error { return completion(.failure(error)) }
                completion(.success(newToken(for: user)))
            }
        }
    }

    /// `POST /api/register`: creates the account and hands out a token. Nobody goes online.
    public func registerAccount(user: String, password: String, peerHost: String? = nil,
                                completion: @escaping @Sendable (Result<String, ChatError>) -> Void) {
        locked {
            guard AccountRules.isValidUsername(user) else {
                return completion(.failure(ChatError(.invalidUsername, "a username is 1–32 letters, digits or punctuation")))
            }
            guard AccountRules.isValidPassword(password) else {
                return completion(.failure(ChatError(.invalidPassword, "a password is 1–128 letters, digits or punctuation, no spaces")))
            }
            guard accounts[user] == nil, !reserved.contains(user) else {
                return completion(.failure(ChatError(.userExists, "\(user) already exists")))
            }
            guard hasher.backlog < configuration.maxHashBacklog else { return completion(.failure(Self.busyError)) }
            if let error = admitRegistration(peerHost: peerHost) { return completion(.failure(error)) }
            reserved.insert(user)
            let appendPath = configuration.appendCredentialsPath
            hasher.hash(password) { [self] encoded in
                locked {
                    let account = AccountRecord(name: user, passwordHash: encoded, createdAt: clock.now())
                    store.perform([.createAccount(account)]) { [self] result in
                        if case .success = result, let appendPath {
                            // --append-credentials covers every door's new accounts (off the event loops: this is
                            // the store thread), as registration on a socket does.
                            do { try CredentialsFile.append(user: user, password: password, to: appendPath) }
                            catch { logger.warning("could not append to the credentials file", metadata: ["error": "\(error)"]) }
                        }
                        locked {
                            reserved.remove(user)
                            guard case .success = result else {
                                return completion(.failure(ChatError(.internalError, "could not save the account; try again")))
                            }
                            accounts[user] = encoded
                            metrics.registrations += 1
                            completion(.success(newToken(for: user)))
                        }
                    }
                }
            }
        }
    }

    /// `POST /api/logout`: revokes the token. Returns false if it was not valid.
    public func revokeToken(_ token: String) -> Bool {
        locked {
            let digest = Tokens.digest(token)
            guard tokens.removeValue(forKey: digest) != nil else { return false }
            store.perform([.deleteToken(digest: digest)]) { _ in }
            return true
        }
    }

    /// `GET /api/whoelse` and `/api/whoelsesince`.
    public func listUsers(for user: String, sinceSeconds: Int?) -> [String] {
        locked { whoElse(for: user, since: sinceSeconds.map { Int64($0) * 1000 }) }
    }

    /// `POST /api/messages`: the socket doors' path exactly (commit before the reply).
    public func postMessage(from user: String, to recipient: String, text: String,
                            completion: @escaping @Sendable (Result<(id: Int64, stored: Bool), ChatError>) -> Void) {
        locked {
            if let error = validateText(text) ?? throttleMessage(from: user) { return completion(.failure(error)) }
            deliverDirect(from: user, to: recipient, text: text) { result in
                completion(result.map { (id: $0.0, stored: $0.1) })
            }
        }
    }

    /// `POST /api/broadcasts`.
    public func postBroadcast(from user: String, text: String) -> Result<(id: Int64, partial: Bool), ChatError> {
        locked {
            if let error = validateText(text) ?? throttleMessage(from: user) { return .failure(error) }
            let (id, partial) = deliverBroadcast(from: user, text: text)
            return .success((id, partial))
        }
    }

    /// `GET /api/history`.
    public func history(for user: String, with other: String?, before: Int64?, limit: Int,
                        completion: @escaping @Sendable (Result<(messages: [StoredMessage], next: Int64?), ChatError>) -> Void) {
        locked {
            fetchHistory(for: user, with: other, before: before, limit: limit) { result in
                completion(result.map { (messages: $0.0, next: $0.1) })
            }
        }
    }

    /// `PUT` / `DELETE /api/blocks/{user}`.
    public func updateBlock(_ user: String, _ other: String, blocked: Bool,
                            completion: @escaping @Sendable (Result<Void, ChatError>) -> Void) {
        locked {
            if let error = changeBlock(user, other, blocked: blocked, completion: completion) {
                completion(.failure(error))
            }
        }
    }

    func userForToken(_ token: String) -> String? {
        guard let record = tokens[Tokens.digest(token)], record.expiresAt > clock.now() else { return nil }
        return record.user
    }

    func newToken(for user: String) -> String {
        let token = Tokens.generate()
        let record = TokenRecord(digest: Tokens.digest(token), user: user,
                                 expiresAt: clock.now() + configuration.tokenLifetime)
        tokens[record.digest] = record
        store.perform([.insertToken(record)]) { _ in }
        return token
    }
}
