/// Work that finished away from the hub (a password hash, a store write or read) and comes back to it. Every
/// hasher and store completion re-enters through `ChatService.resume(_:)`, so hub logic never runs in nested
/// closures: each step below is a plain method that decides what happens next.
enum HubStep: @unchecked Sendable {
    case passwordChecked(PasswordCheck, matches: Bool)
    case registrationHashed(Registration, encoded: String)
    case registrationStored(Registration, NewAccount, error: (any Error)?)
    case offlineFetched(Entry, [StoredMessage])
    case messageStored(DirectMessage, error: (any Error)?)
    case blockStored(BlockChange, error: (any Error)?)
    case historyRead(HistoryPage, Result<[StoredMessage], any Error>)
}

/// A password check in flight, and who is waiting for it.
struct PasswordCheck {
    enum Purpose {
        /// A `login` request on `session`; success continues to going online (or, over REST, to a new token).
        case login(Session, re: RequestID?)
        /// REST credentials: the completion gets the user or the refusal, after the hub's lock is released.
        case credentials(@Sendable (Result<String, ChatError>) -> Void)
    }

    let user: String
    let password: String
    let peerHost: String?
    let purpose: Purpose
}

/// A registration in flight on `session` (socket or REST).
struct Registration {
    let user: String
    let password: String
    let session: Session
    let re: RequestID?
}

/// What a registration writes: the account and its first token.
struct NewAccount {
    let account: AccountRecord
    let token: String
    let record: TokenRecord
}

/// A login whose credentials were accepted, waiting for its offline queue.
struct Entry {
    let user: String
    let session: Session
    let re: RequestID?
    let token: String
}

/// A direct message being committed; `storedPending` says how it was written (the recipient was offline).
struct DirectMessage {
    let message: StoredMessage
    let storedPending: Bool
    let session: Session
    let re: RequestID?
}

/// A block or unblock being made durable (already applied in memory).
struct BlockChange {
    let blocker: String
    let other: String
    let blocked: Bool
    let session: Session
    let re: RequestID?
}

/// A history page being read; one more row than `limit` is asked for, to tell whether another page exists.
struct HistoryPage {
    let limit: Int
    let session: Session
    let re: RequestID?
}

extension ChatService {
    /// The one way back in for work that finished on the hasher's or the store's threads.
    func resume(_ step: HubStep) {
        serialized {
            switch step {
            case .passwordChecked(let check, let matches): passwordChecked(check, matches: matches)
            case .registrationHashed(let registration, let encoded): registrationHashed(registration, encoded: encoded)
            case .registrationStored(let registration, let new, let error): registrationStored(registration, new, error: error)
            case .offlineFetched(let entry, let messages): goOnline(entry, offline: messages)
            case .messageStored(let direct, let error): messageStored(direct, error: error)
            case .blockStored(let change, let error): blockStored(change, error: error)
            case .historyRead(let page, let result): historyRead(page, result)
            }
        }
    }
}
