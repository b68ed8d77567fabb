import COpenSSL
import CSodium
import Foundation
import TLS

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - Collecting the environment

extension RunMetadata {
    /// Metadata for a run starting now, with the machine, build and libraries read from this process.
    ///
    /// - Parameters:
    ///   - name: the results folder name.
    ///   - matrix: the matrix to be run.
    ///   - commandLine: the arguments, normally `CommandLine.arguments`.
    ///   - emulators: the emulators with their calibration, from the runner.
    ///   - startedAt: when the run started.
    ///   - gitDirectory: where to ask git for the commit; the current directory by default.
    public static func collect(
        name: String,
        matrix: ScenarioMatrix,
        commandLine: [String],
        emulators: [Emulator],
        startedAt: Date = Date(),
        gitDirectory: URL? = nil,
        tlsCertificates: TLSCertificateMode = .perHost
    ) -> RunMetadata {
        RunMetadata(
            name: name,
            matrix: matrix.name,
            commandLine: commandLine,
            startedAt: self.timestamp(startedAt),
            git: self.currentGit(directory: gitDirectory),
            machine: self.currentMachine(),
            build: self.currentBuild(),
            libraries: self.currentLibraries(),
            emulators: emulators,
            scenarios: matrix.scenarios,
            throughputScenarios: matrix.throughput,
            tlsCertificates: tlsCertificates.rawValue
        )
    }

    /// ISO 8601 UTC with seconds, e.g. `2026-11-25T14:03:07Z`.
    public static func timestamp(_ date: Date) -> String {
        var formatter = Date.ISO8601FormatStyle()
        formatter.timeZone = TimeZone(identifier: "UTC") ?? formatter.timeZone
        return date.formatted(formatter)
    }

    /// The commit and dirty flag of the checkout at `directory` (or the current directory).
    public static func currentGit(directory: URL? = nil) -> Git {
        guard let commit = self.run(["git", "rev-parse", "HEAD"], in: directory), !commit.isEmpty else {
            return Git(commit: nil, dirty: nil)
        }
        let status = self.run(["git", "status", "--porcelain", "--untracked-files=no"], in: directory)
        return Git(commit: commit, dirty: status.map { !$0.isEmpty })
    }

    /// CPU, cores, memory, kernel and host of this machine.
    public static func currentMachine() -> Machine {
        var cpu: String? = nil
        if let cpuinfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) {
            for line in cpuinfo.split(separator: "\n") where line.hasPrefix("model name") {
                if let colon = line.firstIndex(of: ":") {
                    cpu = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                }
                break
            }
        }
        var system = utsname()
        let kernel: String
        if uname(&system) == 0 {
            kernel = [
                Self.string(&system.sysname), Self.string(&system.release), Self.string(&system.version),
                Self.string(&system.machine),
            ].joined(separator: " ")
        } else {
            kernel = "unknown"
        }
        return Machine(
            cpu: cpu,
            cores: ProcessInfo.processInfo.activeProcessorCount,
            memoryBytes: ProcessInfo.processInfo.physicalMemory,
            kernel: kernel,
            hostname: ProcessInfo.processInfo.hostName
        )
    }

    /// The build configuration of this binary.
    public static func currentBuild() -> Build {
        #if DEBUG
        let configuration = "debug"
        #else
        let configuration = "release"
        #endif
        #if compiler(>=6.3)
        let compiler = ">=6.3"
        #elseif compiler(>=6.2)
        let compiler = "6.2"
        #elseif compiler(>=6.1)
        let compiler = "6.1"
        #else
        let compiler = "<6.1"
        #endif
        return Build(configuration: configuration, swiftCompiler: compiler)
    }

    /// OpenSSL, libsodium and allocator versions as loaded in this process.
    public static func currentLibraries() -> Libraries {
        Libraries(
            openssl: OpenSSL_version(OPENSSL_VERSION).map { String(cString: $0) } ?? "unknown",
            opensslHeaders: COpenSSLShim_OPENSSL_VERSION_TEXT().map { String(cString: $0) } ?? "unknown",
            libsodium: sodium_version_string().map { String(cString: $0) } ?? "unknown",
            allocator: self.currentAllocator()
        )
    }

    /// `jemalloc <version>` when jemalloc is loaded (linked or `LD_PRELOAD`ed: its `mallctl` is in
    /// the global symbol scope), otherwise the C library's allocator, `glibc <version>`.
    public static func currentAllocator() -> String {
        typealias Mallctl =
            @convention(c) (
                UnsafePointer<CChar>?, UnsafeMutableRawPointer?, UnsafeMutablePointer<Int>?, UnsafeMutableRawPointer?,
                Int
            ) -> Int32
        if let handle = dlopen(nil, RTLD_NOW) {
            defer { dlclose(handle) }
            if let symbol = dlsym(handle, "mallctl") {
                let mallctl = unsafeBitCast(symbol, to: Mallctl.self)
                var version: UnsafePointer<CChar>? = nil
                var length = MemoryLayout<UnsafePointer<CChar>?>.size
                let status = withUnsafeMutablePointer(to: &version) { pointer in
                    mallctl("version", UnsafeMutableRawPointer(pointer), &length, nil, 0)
                }
                if status == 0, let version { return "jemalloc \(String(cString: version))" }
                return "jemalloc (version unknown)"
            }
            // glibc's <gnu/libc-version.h> is not part of the Glibc module; look the function up instead.
            typealias LibcVersion = @convention(c) () -> UnsafePointer<CChar>?
            if let symbol = dlsym(handle, "gnu_get_libc_version"),
                let version = unsafeBitCast(symbol, to: LibcVersion.self)()
            {
                return "glibc \(String(cString: version))"
            }
        }
        return "system malloc"
    }

    // MARK: - Helpers

    private static func string<T>(_ field: inout T) -> String {
        withUnsafeBytes(of: &field) { bytes in
            String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    /// Runs a short command and returns its trimmed standard output, or `nil` if it failed.
    private static func run(_ arguments: [String], in directory: URL?) -> String? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = directory }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            return nil
        }
        // Read to end of file before waiting: a child blocked on a full pipe never exits.
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { return nil }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
