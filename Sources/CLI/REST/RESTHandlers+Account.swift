import ChatCore
import Gateway

/// `POST /api/login`, `/api/register` and `/api/logout`: tokens in and out. Password checks are the hub's, so
/// a wrong password here counts toward the same per-account lockout as on the socket doors (SPEC.md §2.3).
extension RESTRouter {
    /// 200 `{"user","token"}`; 401 `no_such_user` / `bad_password` (+`attemptsLeft`), 423 `locked`, 429 `busy`.
    func login(_ request: HTTPRequest, _ respond: HTTPResponder) {
        guard case .success(let (user, password)) = userAndPassword(request, respond) else { return }
        let metrics = self.metrics
        chat.issueToken(user: user, password: password) { result in
            switch result {
            case .success(let token):
                metrics.tokenLoginSucceeded()
                respond.respond(.jsonBody(status: 200, Self.userAndToken(user, token)))
            case .failure(let error):
                respond.respond(RESTError.response(error))
            }
        }
    }

    /// 201 `{"user","token"}`; 400 `invalid_username` / `invalid_password`, 409 `user_exists`, 429 `busy`.
    /// Nobody goes online: registering over REST is creating an account, not a login to a session.
    func register(_ request: HTTPRequest, _ respond: HTTPResponder) {
        guard case .success(let (user, password)) = userAndPassword(request, respond) else { return }
        chat.registerAccount(user: user, password: password) { result in
            switch result {
            case .success(let token): respond.respond(.jsonBody(status: 201, Self.userAndToken(user, token)))
            case .failure(let error): respond.respond(RESTError.response(error))
            }
        }
    }

    /// 204. A bearer token is revoked (the same token a socket session got with `welcome`, if that is where it
    /// came from: PROTOCOL.md says logout revokes it). Basic credentials hold no token, so after they are checked
    /// there is nothing to revoke and the answer is the same 204.
    func logout(_ request: HTTPRequest, _ respond: HTTPResponder) {
        if case .success(.bearer(let token)) = RESTAuth.credentials(in: request.headers) {
            respond.respond(chat.revokeToken(token)
                ? HTTPResponse(status: 204)
                : RESTError.response(ChatError(.badToken, "the token is unknown, expired or revoked")))
            return
        }
        authenticated(request, respond) { _ in respond.respond(HTTPResponse(status: 204)) }
    }

    /// The `{"user","password"}` body of login and register; on failure the refusal has been sent.
    private func userAndPassword(_ request: HTTPRequest, _ respond: HTTPResponder) -> Result<(String, String), Refusal> {
        let result = RESTInput.jsonObject(request).flatMap { body in
            RESTInput.string(body, "user").flatMap { user in
                RESTInput.string(body, "password").map { (user, $0) }
            }
        }
        if case .failure(let refusal) = result { respond.respond(refusal.response) }
        return result
    }

    private static func userAndToken(_ user: String, _ token: String) -> [UInt8] {
        var w = JSONWriter()
        w.field("user", user)
        w.field("token", token)
        return w.finish()
    }
}
