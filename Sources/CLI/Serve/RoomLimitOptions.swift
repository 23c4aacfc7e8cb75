import ArgumentParser
import ChatCore

/// `--max-rooms-per-user`, `--max-room-members` and `--max-rooms` for `parley serve`: how far rooms may grow
/// (docs/PROTOCOL.md §12, docs/SECURITY.md). Each bounds memory the hub keeps and the work one `say` costs; a join
/// past one is refused (`too_many_rooms`, `room_full`) and counted in `/metrics`.
struct RoomLimitOptions: ParsableArguments {
    @Option(help: "Rooms one user may be a member of at once.")
    var maxRoomsPerUser: Int = RoomLimits().roomsPerUser

    @Option(help: "Members one room may hold.")
    var maxRoomMembers: Int = RoomLimits().membersPerRoom

    @Option(help: "Rooms on the server, empty ones included.")
    var maxRooms: Int = RoomLimits().totalRooms

    func validate() throws {
        // Zero would make rooms unusable without saying so; a server without rooms is not an option.
        guard maxRoomsPerUser >= 1 else { throw ValidationError("--max-rooms-per-user must be 1 or more") }
        guard maxRoomMembers >= 1 else { throw ValidationError("--max-room-members must be 1 or more") }
        guard maxRooms >= 1 else { throw ValidationError("--max-rooms must be 1 or more") }
    }

    /// The hub's room limits as the options set them; what the options do not cover keeps its default.
    var limits: RoomLimits {
        var limits = RoomLimits()
        limits.roomsPerUser = maxRoomsPerUser
        limits.membersPerRoom = maxRoomMembers
        limits.totalRooms = maxRooms
        return limits
    }
}
