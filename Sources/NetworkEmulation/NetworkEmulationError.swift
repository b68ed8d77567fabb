import Glibc

/// An error from network delay emulation: an emulator that cannot run here, a namespace,
/// device or socket that could not be set up, or a path used after it was stopped.
///
/// Equality compares ``code`` only, so tests and the driver can match on the kind of failure
/// while the ``diagnostics`` say what exactly was wrong (including `errno` where there is one).
public struct NetworkEmulationError: Error, Hashable, CustomStringConvertible {
    /// The stable kind of failure.
    public let code: Code
    /// What was wrong, for people; not part of equality.
    public let diagnostics: String

    @usableFromInline
    init(_ code: Code, _ diagnostics: String) {
        self.code = code
        self.diagnostics = diagnostics
    }

    public static func == (lhs: NetworkEmulationError, rhs: NetworkEmulationError) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(self.code) }

    public var description: String { "NetworkEmulationError.\(self.code): \(self.diagnostics)" }

    /// The kinds of emulation failure. Codes are stable: scripts and CSV files may record them.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case unavailable
            case permissionDenied
            case invalidRTT
            case setupFailed
            case commandFailed
            case socketFailure
            case connectTimedOut
            case unknownDialTarget
            case limitReached
            case stopped
            case calibrationFailed
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The requested emulator cannot run on this machine (kernel feature or tool missing).
        public static let unavailable = Code(.unavailable)
        /// Creating namespaces or devices was refused (needs root: CAP_SYS_ADMIN and CAP_NET_ADMIN).
        public static let permissionDenied = Code(.permissionDenied)
        /// A round-trip time below zero or above ``NetworkEmulator/maximumRTT``, or a non-zero
        /// one for ``NetworkEmulatorKind/none``.
        public static let invalidRTT = Code(.invalidRTT)
        /// A namespace, TUN device, interface or relay could not be set up.
        public static let setupFailed = Code(.setupFailed)
        /// An `ip` or `tc` command failed or did not finish in time.
        public static let commandFailed = Code(.commandFailed)
        /// A socket call (socket, bind, listen, connect, accept, read, write) failed.
        public static let socketFailure = Code(.socketFailure)
        /// A TCP connect through the path did not complete within the connect timeout.
        public static let connectTimedOut = Code(.connectTimedOut)
        /// A dial to an address that is not a listener created through this path.
        public static let unknownDialTarget = Code(.unknownDialTarget)
        /// A named limit (concurrent dials, relay connections) was reached.
        public static let limitReached = Code(.limitReached)
        /// The path was already stopped.
        public static let stopped = Code(.stopped)
        /// A calibration probe did not complete (short read, peer closed, timeout).
        public static let calibrationFailed = Code(.calibrationFailed)

        public var description: String { self.base.rawValue }
    }
}

extension NetworkEmulationError {
    @inline(never)
    static func unavailable(_ what: String) -> NetworkEmulationError { NetworkEmulationError(.unavailable, what) }

    @inline(never)
    static func permissionDenied(_ what: String) -> NetworkEmulationError {
        NetworkEmulationError(.permissionDenied, what)
    }

    @inline(never)
    static func invalidRTT(_ rtt: Duration) -> NetworkEmulationError {
        NetworkEmulationError(
            .invalidRTT,
            "round-trip time \(rtt) is outside 0 ... \(NetworkEmulator.maximumRTT)"
        )
    }

    @inline(never)
    static func invalidRTT(_ rtt: Duration, _ why: String) -> NetworkEmulationError {
        NetworkEmulationError(.invalidRTT, "round-trip time \(rtt): \(why)")
    }

    @inline(never)
    static func setupFailed(_ what: String) -> NetworkEmulationError { NetworkEmulationError(.setupFailed, what) }

    @inline(never)
    static func commandFailed(_ what: String) -> NetworkEmulationError { NetworkEmulationError(.commandFailed, what) }

    @inline(never)
    static func socketFailure(_ what: String) -> NetworkEmulationError { NetworkEmulationError(.socketFailure, what) }

    @inline(never)
    static func connectTimedOut(_ what: String) -> NetworkEmulationError {
        NetworkEmulationError(.connectTimedOut, what)
    }

    @inline(never)
    static func unknownDialTarget(_ what: String) -> NetworkEmulationError {
        NetworkEmulationError(.unknownDialTarget, what)
    }

    @inline(never)
    static func limitReached(_ what: String) -> NetworkEmulationError { NetworkEmulationError(.limitReached, what) }

    @inline(never)
    static func stopped() -> NetworkEmulationError {
        NetworkEmulationError(.stopped, "the emulated path was stopped")
    }

    @inline(never)
    static func calibrationFailed(_ what: String) -> NetworkEmulationError {
        NetworkEmulationError(.calibrationFailed, what)
    }

    /// A failed system call as a typed error: permission errors become ``Code/permissionDenied``
    /// so that `auto` can fall back to an emulator that needs fewer privileges.
    @inline(never)
    static func systemCall(
        _ call: String,
        errno code: CInt,
        as fallback: (String) -> NetworkEmulationError
    ) -> NetworkEmulationError {
        let message = "\(call) failed: \(SystemErrorText.describe(code))"
        if code == EPERM || code == EACCES {
            return .permissionDenied(message)
        }
        return fallback(message)
    }
}
