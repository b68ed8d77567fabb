internal import COpenSSL

extension TLSError {
    /// Drains this thread's OpenSSL error queue into one ``TLSError``: the single place where OpenSSL
    /// errors become Swift errors.
    ///
    /// The code is `fallback` unless the queue names something more specific: a fatal alert the peer
    /// sent (OpenSSL reports those as reasons `1000 + alert`), no common ALPN protocol, or a client
    /// that sent no certificate.
    ///
    /// - Parameters:
    ///   - fallback: The code to use when no queued reason maps to a more specific one.
    ///   - operation: What was being done, for the diagnostics (for example `"SSL_do_handshake"`).
    @inline(never)
    static func drainingOpenSSLErrorQueue(_ fallback: Code, operation: String) -> TLSError {
        var code = fallback
        var messages: [String] = []
        while true {
            let error = ERR_get_error()
            if error == 0 { break }
            // Keep the first queued reason that maps to a specific code: it is the root cause.
            if code == fallback, ERR_GET_LIB(error) == ERR_LIB_SSL {
                code = Self.specificCode(forReason: ERR_GET_REASON(error)) ?? fallback
            }
            messages.append(Self.text(of: error))
        }
        let detail = messages.isEmpty ? "no OpenSSL error queued" : messages.joined(separator: "; ")
        return TLSError(code, "\(operation) failed: \(detail)")
    }

    /// The code for an `SSL_R_*` reason, or nil when the fallback fits.
    private static func specificCode(forReason reason: Int32) -> Code? {
        if reason == SSL_R_NO_APPLICATION_PROTOCOL || reason == SSL_AD_REASON_OFFSET + SSL_AD_NO_APPLICATION_PROTOCOL {
            return .noCommonApplicationProtocol
        }
        if reason == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE {
            return .missingPeerCertificate
        }
        if reason >= SSL_AD_REASON_OFFSET, reason < SSL_AD_REASON_OFFSET + 256 {
            return .alertReceived
        }
        return nil
    }

    /// OpenSSL's one-line text for `error`, such as
    /// `error:0A000412:SSL routines::sslv3 alert bad certificate`.
    private static func text(of error: UInt) -> String {
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: 256) { buffer in
            guard let base = buffer.baseAddress else { return "error \(error)" }
            ERR_error_string_n(error, base, buffer.count)
            return String(cString: base)
        }
    }
}
