#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The terminal's raw mode: keys arrive one byte at a time, unechoed, with ^C and ^Z as plain bytes, so the
/// line editor owns the input line. Output processing stays on (a "\n" still returns the carriage), so printed
/// lines need no special care. `restore()` puts back exactly the settings found; it is safe to call twice.
final class RawMode {
    private let fd: Int32
    private var original = termios()
    private(set) var isEnabled = false

    init(fd: Int32 = STDIN_FILENO) {
        self.fd = fd
    }

    /// Whether both the keyboard side and the screen side are a terminal: only then is there a line to edit.
    static var isInteractive: Bool {
        isatty(STDIN_FILENO) == 1 && isatty(STDOUT_FILENO) == 1
    }

    /// Switches the terminal to raw mode. Returns false (and changes nothing) if it is not a terminal.
    @discardableResult
    func enable() -> Bool {
        guard !isEnabled, tcgetattr(fd, &original) == 0 else { return isEnabled }
        var raw = original
        raw.c_iflag &= ~tcflag_t(IXON | ICRNL | INLCR | IGNCR | BRKINT | ISTRIP)
        raw.c_lflag &= ~tcflag_t(ECHO | ICANON | ISIG | IEXTEN)
        withUnsafeMutableBytes(of: &raw.c_cc) { cc in
            cc[Int(VMIN)] = 1
            cc[Int(VTIME)] = 0
        }
        // TCSANOW, not TCSAFLUSH: keys typed before the switch (a fast typist, a test harness) are kept.
        guard tcsetattr(fd, TCSANOW, &raw) == 0 else { return false }
        isEnabled = true
        return true
    }

    func restore() {
        guard isEnabled else { return }
        _ = tcsetattr(fd, TCSANOW, &original)
        isEnabled = false
    }

    deinit { restore() }

    /// The screen's width in columns (80 if it cannot be told).
    static func screenWidth(fd: Int32 = STDOUT_FILENO) -> Int {
        var size = winsize()
        if ioctl(fd, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 { return Int(size.ws_col) }
        if let columns = getenv("COLUMNS").flatMap({ Int(String(cString: $0)) }), columns > 0 { return columns }
        return 80
    }
}

/// Signals turned into bytes on a pipe (the self-pipe pattern), so the single poll() loop of the client sees
/// them like any other input: ^C when the input is not a terminal, SIGTERM, SIGHUP, and SIGWINCH (resize).
enum SignalPipe {
    nonisolated(unsafe) private static var writeFD: Int32 = -1
    nonisolated(unsafe) private(set) static var readFD: Int32 = -1

    /// Installs the handlers once. SIGPIPE is ignored: a write to a closed socket becomes an error to handle.
    static func install() {
        signal(SIGPIPE, SIG_IGN)
        guard readFD < 0 else { return }
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { return }
        for fd in fds {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
        readFD = fds[0]
        writeFD = fds[1]
        for sig in [SIGINT, SIGTERM, SIGHUP, SIGWINCH] {
            signal(sig) { number in
                var byte = UInt8(truncatingIfNeeded: number)
                _ = write(SignalPipe.writeFD, &byte, 1)
            }
        }
    }

    /// The signals that arrived since the last call.
    static func drain() -> [Int32] {
        var buffer = [UInt8](repeating: 0, count: 64)
        let n = read(readFD, &buffer, buffer.count)
        return n > 0 ? buffer[..<n].map { Int32($0) } : []
    }
}
