import Glibc

/// `errno` values as text for ``NetworkEmulationError/diagnostics``.
enum SystemErrorText {
    static func describe(_ code: CInt) -> String {
        guard let text = strerror(code) else { return "errno \(code)" }
        return "\(String(cString: text)) (errno \(code))"
    }
}
