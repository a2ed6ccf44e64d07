//! The one place that reads the API's answer envelope, for every operation.

use http::header::{CONTENT_TYPE, LOCATION};
use http::{HeaderName, Response, StatusCode};
use sendkit_model::{ErrorCode, ErrorEnvelope, StatusErrorBody, SuccessEnvelope};
use serde::de::{DeserializeOwned, IgnoredAny};

use crate::error::{ApiAnswer, CallInfo, Error};
use crate::retry_after::retry_after;

/// Reads `response` as the API answers: on 2xx, `{"success": true, "data": T}`; otherwise one of the two error
/// shapes, each mapped to its [`Error`] variant by status; anything else becomes an error that keeps the status
/// and the start of the body.
///
/// A 429's `Retry-After` is read here, in any of its forms; a date is measured against the answer's `Date`, and
/// read only in its delta-seconds form when the answer has none ([`Call`](crate::Call) supplies one from the
/// driver's clock).
pub fn parse_response<T, B>(response: &Response<B>) -> Result<T, Error>
where
    T: DeserializeOwned,
    B: AsRef<[u8]>,
{
    let status = response.status();
    let body = response.body().as_ref();
    if status.is_success() {
        // The fast path: plain serde_json, no allocation beyond the result's own. Only a body that fails is parsed
        // again, to say where it failed (tracking the path costs an allocation per key, on every answer).
        return match serde_json::from_slice::<SuccessEnvelope<T>>(body) {
            Ok(envelope) if envelope.success => Ok(envelope.data),
            Ok(_) => Err(api_error(response).unwrap_or_else(|| decode_error(response, ".", "`success` is false"))),
            Err(_) => Err(api_error(response).unwrap_or_else(|| malformed::<T, B>(response))),
        };
    }
    if status.is_redirection() {
        let location = header_text(response, LOCATION);
        return Err(Error::Redirect { call: CallInfo::default(), status, location, request_id: request_id(response) });
    }
    Err(api_error(response).unwrap_or_else(|| match status {
        // A proxy's 429 says the same thing as the API's, whatever its body.
        StatusCode::TOO_MANY_REQUESTS => rate_limited(response, None, None),
        _ => unexpected(response),
    }))
}

/// Why a success answer's body is not the `T` expected: not JSON at all, or JSON that fails at a path.
fn malformed<T: DeserializeOwned, B: AsRef<[u8]>>(response: &Response<B>) -> Error {
    let body = response.body().as_ref();
    if serde_json::from_slice::<IgnoredAny>(body).is_err() {
        return unexpected(response);
    }
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    match serde_path_to_error::deserialize::<_, SuccessEnvelope<T>>(&mut deserializer) {
        Err(err) => decode_error(response, &err.path().to_string(), &err.into_inner().to_string()),
        // Reached only if the two parsers disagreed; the body is still not what was expected.
        Ok(_) => decode_error(response, ".", "the body does not match the expected shape"),
    }
}

/// The error an API error body stands for, or `None` when the body is not one.
fn api_error<B: AsRef<[u8]>>(response: &Response<B>) -> Option<Error> {
    let status = response.status();
    let body = response.body().as_ref();
    let (code, message) = if let Ok(envelope) = serde_json::from_slice::<ErrorEnvelope>(body) {
        (envelope.error.code, envelope.error.message)
    } else if let Ok(other) = serde_json::from_slice::<StatusErrorBody>(body) {
        (ErrorCode::from(other.error), other.message)
    } else {
        return None;
    };
    let call = CallInfo::default();
    if status == StatusCode::TOO_MANY_REQUESTS {
        return Some(rate_limited(response, Some(code), Some(message)));
    }
    let answer = ApiAnswer { status, code, message, request_id: request_id(response) };
    Some(match status {
        StatusCode::UNAUTHORIZED => Error::Unauthorized { call, answer },
        StatusCode::NOT_FOUND => Error::NotFound { call, answer },
        _ => Error::Api { call, answer },
    })
}

fn rate_limited<B>(response: &Response<B>, code: Option<ErrorCode>, message: Option<String>) -> Error {
    Error::RateLimited {
        call: CallInfo::default(),
        status: response.status(),
        code,
        message,
        request_id: request_id(response),
        retry_after: retry_after(response.headers()),
    }
}

fn unexpected<B: AsRef<[u8]>>(response: &Response<B>) -> Error {
    Error::UnexpectedResponse {
        call: CallInfo::default(),
        status: response.status(),
        content_type: header_text(response, CONTENT_TYPE),
        snippet: Error::snippet(response.body().as_ref()),
        request_id: request_id(response),
    }
}

pub(crate) fn decode_error<B: AsRef<[u8]>>(response: &Response<B>, path: &str, message: &str) -> Error {
    Error::Decode {
        call: CallInfo::default(),
        status: response.status(),
        path: path.to_owned(),
        message: message.to_owned(),
        snippet: Error::snippet(response.body().as_ref()),
        request_id: request_id(response),
    }
}

/// The ID the server gave this request, for support: `X-Request-Id`, or `Request-Id`.
pub(crate) fn request_id<B>(response: &Response<B>) -> Option<String> {
    header_text(response, X_REQUEST_ID).or_else(|| header_text(response, REQUEST_ID))
}

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const REQUEST_ID: HeaderName = HeaderName::from_static("request-id");

/// A header's value as text, bounded, with anything that is not printable ASCII replaced.
fn header_text<B>(response: &Response<B>, name: HeaderName) -> Option<String> {
    let value = response.headers().get(name)?;
    let bytes = &value.as_bytes()[..value.len().min(Error::SNIPPET_LEN)];
    Some(String::from_utf8_lossy(bytes).into_owned()).filter(|text| !text.is_empty())
}

/// A job answered for `job_id` that is the job asked for: an answer naming another job is refused, as a body the
/// client cannot accept (for a cancel, the server accepted the request, so it may have taken effect).
pub(crate) fn the_job_asked<B: AsRef<[u8]>>(
    response: &Response<B>,
    job_id: &str,
    job: sendkit_model::Job,
) -> Result<sendkit_model::Job, Error> {
    if job.id == job_id {
        Ok(job)
    } else {
        let message = format!("the answer names job {:?}, not the job asked for", job.id);
        Err(decode_error(response, "data.id", &message))
    }
}
