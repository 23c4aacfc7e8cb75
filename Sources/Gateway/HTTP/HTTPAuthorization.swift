import ParleySupport

/// The credentials of one `Authorization` header value: `Bearer <token>` (RFC 6750 §2.1) or `Basic <base64 of
/// user:password>` (RFC 7617). Pure parsing, no policy: the REST layer decides what each outcome means, and the
/// fuzz target (Fuzz/FuzzAuthorization) drives this directly.
public enum HTTPAuthorization: Sendable, Equatable {
    case bearer(String)
    case basic(user: String, password: String)

    public enum Failure: Error, Sendable, Equatable {
        /// Not `<scheme> <credentials>`.
        case missingCredentials
        /// A Bearer token that is empty or holds a space.
        case malformedBearer
        /// Basic credentials that are not base64 of UTF-8 `user:password`.
        case malformedBasic
        /// A scheme other than Bearer or Basic.
        case unsupportedScheme
    }

    /// Parses one header value. Schemes are case-insensitive; spaces before the credentials are skipped.
    ///
    /// The value is split on space *bytes*, not on `Character`s: a space followed by a combining mark is one
    /// grapheme cluster to Swift, and splitting a header by graphemes once let `Bearer <U+07EE>…` lose its
    /// separator (found by Fuzz/FuzzAuthorization; see HTTPAuthorizationTests).
    public static func parse(_ value: String) -> Result<HTTPAuthorization, Failure> {
        let bytes = Array(value.utf8)
        let space = UInt8(ascii: " ")
        var start = 0
        while start < bytes.count, bytes[start] == space { start += 1 }
        guard let gap = bytes[start...].firstIndex(of: space) else { return .failure(.missingCredentials) }
        var from = gap
        while from < bytes.count, bytes[from] == space { from += 1 }
        guard from < bytes.count else { return .failure(.missingCredentials) }
        let scheme = bytes[start..<gap]
        let credentials = bytes[from...]
        if equalsIgnoringASCIICase(scheme, "bearer") {
            guard !credentials.contains(space) else { return .failure(.malformedBearer) }
            return .success(.bearer(String(decoding: credentials, as: UTF8.self)))
        }
        if equalsIgnoringASCIICase(scheme, "basic") {
            // RFC 7617 §2: user-id and password are split at the first colon, so a user-id cannot hold one.
            // Split the bytes, not the String: a colon followed by a combining mark is one Character, and
            // String indices round to Characters (found by the fuzzer, see HTTPAuthorizationTests).
            guard let decoded = Base64.decode(credentials), String(validating: decoded, as: UTF8.self) != nil,
                  let colon = decoded.firstIndex(of: UInt8(ascii: ":")) else { return .failure(.malformedBasic) }
            return .success(.basic(user: String(decoding: decoded[..<colon], as: UTF8.self),
                                   password: String(decoding: decoded[(colon + 1)...], as: UTF8.self)))
        }
        return .failure(.unsupportedScheme)
    }

    private static func equalsIgnoringASCIICase(_ bytes: ArraySlice<UInt8>, _ lowercase: String) -> Bool {
        bytes.count == lowercase.utf8.count
            && zip(bytes, lowercase.utf8).allSatisfy { ($0 >= 65 && $0 <= 90 ? $0 + 32 : $0) == $1 }
    }
}
