import ChatCore
import Gateway

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
}
