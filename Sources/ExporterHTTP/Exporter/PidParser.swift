/// Parses the `<pid>` of `/mark-dead/<pid>`: only what a file name `gauge_live*_<pid>.db` can
/// hold, written canonically.
enum PidParser {
    /// The largest pid Linux hands out (`PID_MAX_LIMIT`, 2^22).
    static let maximum = 4_194_304

    /// The pid, or a message saying what is wrong (the message never echoes the input).
    static func parse(_ text: Substring) -> Result<Int, PidError> {
        let bytes = Array(text.utf8)
        guard !bytes.isEmpty else { return .failure(PidError("missing pid: use POST /mark-dead/<pid>")) }
        guard bytes.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
            return .failure(PidError("pid must be a plain decimal number (digits only, no sign, no encoding)"))
        }
        guard bytes.count <= 7 else { return .failure(PidError("pid out of range: must be 1 to \(maximum)")) }
        guard bytes.count == 1 || bytes[0] != UInt8(ascii: "0") else {
            return .failure(PidError("pid must not have leading zeros"))
        }
        let value = bytes.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
        guard value >= 1 && value <= maximum else { return .failure(PidError("pid out of range: must be 1 to \(maximum)")) }
        return .success(value)
    }

    struct PidError: Error, Equatable {
        var message: String
        init(_ message: String) { self.message = message }
    }
}
