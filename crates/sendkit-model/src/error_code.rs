use crate::string_enum::string_enum;

string_enum! {
    /// The `code` of an API error envelope. Codes the SDK does not know are kept as their string.
    pub enum ErrorCode {
        /// The request was malformed, or the job is not in a state that allows the call (HTTP 400).
        ValidationError = "VALIDATION_ERROR",
        /// The API key is missing or wrong (HTTP 401).
        Unauthorized = "UNAUTHORIZED",
        /// The key may not do this (HTTP 403).
        Forbidden = "FORBIDDEN",
        /// No such job, or it expired (HTTP 404).
        NotFound = "NOT_FOUND",
        /// Too many requests (HTTP 429).
        RateLimited = "RATE_LIMITED",
        /// The server failed (HTTP 500).
        InternalError = "INTERNAL_ERROR",
    }
}
