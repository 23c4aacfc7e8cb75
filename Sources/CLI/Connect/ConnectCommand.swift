import ArgumentParser
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `parley connect <server_port>` and `parley connect <host> <server_port>` (docs/PROTOCOL.md §1.1): the terminal client.
struct ConnectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "connect",
        abstract: "Chat from the terminal: log in to a Parley server and type commands.",
        usage: "parley connect [--tls [--ca <file>] [--insecure]] [<host>] <server_port>",
        discussion: """
            With one argument the server is on 127.0.0.1. Commands: message <user> <message>, \
            broadcast <message>, whoelse, whoelsesince <seconds>, block <user>, unblock <user>, \
            startprivate <user>, private <user> <message>, stopprivate <user>, logout. \
            Rooms: join <room>, leave <room>, say <room> <message>, rooms, members <room>, \
            kick <room> <user>, ban <room> <user>, unban <room> <user> (a room is written with or without \
            its leading #). Ctrl-D or Ctrl-C log out. When standard input is not a terminal, it is read line by line.

            Private messages go straight to the other terminal client, never through the server: the client \
            listens on a port of its own (chosen by the system, on the address it reaches the server from). \
            When someone asks to private message you, the question takes the place of the prompt and the next \
            line answers it: y or n. Any other line runs as a command, and the question is asked again.

            With --tls the connection to the server is encrypted and the server's certificate is checked \
            against the system's certificate authorities (or only the ones in --ca FILE) and against the host \
            name or address given. --insecure skips that check and says so. Private messages stay plaintext: \
            they go from terminal to terminal, not through the server, and neither end has a certificate.

            Exit status: 0 logged out, 1 account locked, 2 logged out for inactivity, 3 connection lost \
            or refused (TLS refused too), 4 input ended before login.
            """
    )

    @Argument(help: ArgumentHelp("The server's host (optional, default 127.0.0.1), then its port.",
                                 valueName: "host-and-port"))
    var hostAndPort: [String]

    @Flag(help: "Connect over TLS (the server's --tls-cert), checking its certificate.")
    var tls = false

    @Option(help: ArgumentHelp("With --tls: trust only the certificate authorities in this PEM file (a private CA, "
                                   + "or a self-signed server certificate) instead of the system's.",
                               valueName: "file"))
    var ca: String?

    @Flag(help: "With --tls: do not check the server's certificate at all (a warning says so). For tests only.")
    var insecure = false

    var host: String { hostAndPort.count == 2 ? hostAndPort[0] : "127.0.0.1" }
    var port: Int { Int(hostAndPort.last ?? "") ?? 0 }

    func validate() throws {
        guard (1...2).contains(hostAndPort.count) else {
            throw ValidationError("expected <server_port> or <host> <server_port>")
        }
        guard let port = Int(hostAndPort.last!), (1...65_535).contains(port) else {
            throw ValidationError("server_port must be a number from 1 to 65535")
        }
        if hostAndPort.count == 2, hostAndPort[0].isEmpty { throw ValidationError("host must not be empty") }
        if (ca != nil || insecure) && !tls { throw ValidationError("--ca and --insecure go with --tls") }
        if ca != nil && insecure { throw ValidationError("--ca and --insecure exclude each other") }
    }

    func run() throws {
        SignalPipe.install()
        let connection: ChatConnection
        let context: TLSClientContext?
        do {
            context = tls ? try TLSClientContext(trust: insecure ? .none : ca.map { .caFile($0) } ?? .systemStore) : nil
            if context?.verifies == false { standardError("parley connect: \(TLSClientContext.insecureWarning)\n") }
            connection = try ChatConnection.open(host: host, port: port, tls: context)
        } catch {
            standardError("parley connect: \(error)\n")
            throw ExitCode(SessionEnd.connectionLost.rawValue)
        }
        let console = Console(interactive: RawMode.isInteractive)
        let (host, port) = (host, port)
        let session = ClientSession(connection: connection, console: console,
                                    reopen: { try? ChatConnection.open(host: host, port: port, tls: context) })
        let end = session.run()
        console.finish()
        if end != .loggedOut { throw ExitCode(end.rawValue) }
    }

    private func standardError(_ text: String) {
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress!, $0.count) }
    }
}
