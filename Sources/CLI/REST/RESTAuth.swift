import ChatCore
import Dispatch
import Gateway
import Synchronization

/// Who a REST request says it is: `Authorization: Bearer <token>` (from `welcome` or `POST /api/login`) or
/// HTTP Basic (RFC 7617). Parsing never fails hard: anything unreadable is a 401 with the challenge, so a client
/// learns which schemes work instead of getting a 400 it cannot act on.
enum RESTAuth {
    /// The credentials in `headers`, or the 401 that refuses the request.
    static func credentials(in headers: HTTPHeaders) -> Result<ChatService.Credentials, Refusal> {
        let values = headers.values(for: "Authorization")
        guard let value = values.first else {
            return .failure(Refusal(RESTError.unauthorized(
                "log in first: send Authorization: Bearer <token> or Basic")))
        }
        // Two Authorization lines could be read two ways by two components; refuse rather than guess.
        guard values.count == 1 else {
            return .failure(Refusal(RESTError.unauthorized("send one Authorization header")))
        }
        // The parsing itself is the gateway's (pure, and fuzzed by Fuzz/FuzzAuthorization); the wording is ours.
        switch HTTPAuthorization.parse(value) {
        case .success(.bearer(let token)):
            return .success(.bearer(token))
        case .success(.basic(let user, let password)):
            return .success(.basic(user: user, password: password))
        case .failure(.missingCredentials):
            return .failure(Refusal(RESTError.unauthorized("the Authorization header needs a scheme and credentials")))
        case .failure(.malformedBearer):
            return .failure(Refusal(RESTError.response(ChatError(.badToken, "the bearer token is malformed"))))
        case .failure(.malformedBasic):
            return .failure(Refusal(RESTError.unauthorized("the Basic credentials are not base64 of user:password")))
        case .failure(.unsupportedScheme):
            return .failure(Refusal(RESTError.unauthorized("unsupported Authorization scheme: use Bearer or Basic")))
        }
    }

    /// Standard base64 (RFC 4648 §4); padding optional, whitespace and other alphabets refused.
    static func base64Decoded(_ text: Substring) -> [UInt8]? {
        HTTPAuthorization.base64Decoded(text)
    }
}

/// Carries a hub completion's value to code that must run *outside* the hub's lock.
///
/// Hub completions run with its lock held, and the lock is not reentrant, so a completion must not call the hub
/// again. A REST handler usually needs two calls (authenticate, then act). The relay runs the second step inline
/// on the calling thread when the first completed synchronously (a bearer token is a dictionary lookup), and
/// hops to a global queue only when the completion came later from a hasher or store thread (Basic auth), where
/// waiting is not an option.
final class HubRelay<Value: Sendable>: Sendable {
    private enum State {
        case calling
        case ready(Value)
        case returned
    }

    private let state = Mutex(State.calling)
    private let next: @Sendable (Value) -> Void

    private init(next: @escaping @Sendable (Value) -> Void) {
        self.next = next
    }

    /// Calls `start` with a completion handler; `next` gets the value once `start` has returned and the hub's
    /// lock is free.
    static func run(_ start: (@escaping @Sendable (Value) -> Void) -> Void,
                    then next: @escaping @Sendable (Value) -> Void) {
        let relay = HubRelay(next: next)
        start { value in relay.complete(value) }
        let ready: Value? = relay.state.withLock { state in
            if case .ready(let value) = state { return value }
            state = .returned
            return nil
        }
        if let ready { next(ready) }
    }

    private func complete(_ value: Value) {
        let callerReturned = state.withLock { state in
            if case .returned = state { return true }
            state = .ready(value)
            return false
        }
        // The caller is gone and this thread holds the hub's lock: continue elsewhere.
        if callerReturned {
            let next = self.next
            DispatchQueue.global().async { next(value) }
        }
    }
}
