import Glibc

/// The bytes of one client connection, in clear (`ClientSocket`) or through TLS (`TLSClientStream`): what the
/// terminal client's server connection and each of `parley bench`'s clients read and write, without knowing
/// which of the two they have.
///
/// With TLS a read can need the socket to be writable first, and a write readable (a handshake message or a
/// key update in between), so after `.wouldBlock` the owner polls for `readWaitsFor` or `writeWaitsFor`
/// instead of assuming POLLIN and POLLOUT.
protocol ClientStream: AnyObject {
    var fd: Int32 { get }
    func read(into buffer: UnsafeMutableRawBufferPointer) -> IOResult
    /// After `.wouldBlock`, a TLS stream must be given the same bytes again (or more of them: the buffer may
    /// have grown and moved).
    func write(_ bytes: UnsafeRawBufferPointer) -> IOResult
    /// The poll() event the last read that would block waits for.
    var readWaitsFor: Int16 { get }
    /// The poll() event the last write that would block waits for.
    var writeWaitsFor: Int16 { get }
    /// Received bytes held inside the stream (decrypted or read ahead), which poll() cannot see: read again
    /// before polling.
    var hasBufferedInput: Bool { get }
    /// Says goodbye (TLS close_notify) as far as that can be done without waiting, then stops sending.
    func shutdownWrite()
    func close()
}

extension ClientSocket: ClientStream {
    var readWaitsFor: Int16 { Int16(POLLIN) }
    var writeWaitsFor: Int16 { Int16(POLLOUT) }
    var hasBufferedInput: Bool { false }
}

extension ClientStream {
    /// Writes every byte, waiting (in poll(), never spinning) while the stream has no room. False when the
    /// connection is gone.
    func writeAllWaiting(_ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            switch bytes.withUnsafeBytes({ write(UnsafeRawBufferPointer(rebasing: $0[offset...])) }) {
            case .bytes(let n):
                offset += n
            case .wouldBlock:
                guard SystemCall.waitFor(writeWaitsFor, on: fd) else { return false }
            case .closed, .failed:
                return false
            }
        }
        return true
    }
}
