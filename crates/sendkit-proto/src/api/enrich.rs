use http::{Method, Request, Response};
use sendkit_model::{EnrichRequest, EnrichResponse};

use crate::config::Config;
use crate::error::{Error, InvalidInput};
use crate::operation::{Idempotency, Operation};
use crate::response::parse_response;

/// `POST /v1/enrichment/enrich`: run enrichments over leads; the API creates one `pending` job per enrichment type
/// and deducts credits up front.
///
/// Because it charges credits, enrich is never sent twice once the request may have reached the server: it is
/// retried only after a 429 or a refused connection. A lost answer is a
/// [`Transport`](Error::Transport) error that says the outcome is unknown.
///
/// The request is checked before any I/O: at least one lead and one type, and each lead ID 24 hexadecimal digits.
///
/// ```
/// use sendkit_proto::{Config, Enrich, Operation};
/// use sendkit_model::{EnrichRequest, EnrichmentType};
///
/// let config = Config::builder("sk_live_0123456789").build().unwrap();
/// let enrich = Enrich::new(EnrichRequest::new(["507f1f77bcf86cd799439011"], [EnrichmentType::Email]));
/// let request = enrich.build_request(&config).unwrap();
/// assert_eq!(request.uri(), "https://api.sendkit.ai/v1/enrichment/enrich");
///
/// let no_leads = Enrich::new(EnrichRequest::new(Vec::<String>::new(), [EnrichmentType::Email]));
/// assert!(no_leads.build_request(&config).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enrich {
    body: EnrichRequest,
}

impl Enrich {
    /// Enrich as `body` says.
    pub fn new(body: EnrichRequest) -> Self {
        Self { body }
    }

    /// The request body.
    pub fn body(&self) -> &EnrichRequest {
        &self.body
    }

    fn check(&self) -> Result<(), InvalidInput> {
        let invalid = |why: String| Err(InvalidInput::EnrichRequest(why));
        if self.body.lead_ids.is_empty() {
            return invalid("no lead IDs".into());
        }
        if self.body.enrichment_types.is_empty() {
            return invalid("no enrichment types".into());
        }
        if let Some(bad) =
            self.body.lead_ids.iter().find(|id| id.len() != 24 || !id.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return invalid(format!("lead ID {bad:?} is not 24 hexadecimal digits"));
        }
        Ok(())
    }
}

impl Operation for Enrich {
    type Output = EnrichResponse;

    fn name(&self) -> &'static str {
        "enrich"
    }

    fn idempotency(&self) -> Idempotency {
        Idempotency::NonIdempotent
    }

    fn build_request(&self, config: &Config) -> Result<Request<Vec<u8>>, Error> {
        self.check()?;
        // Serializing these plain types cannot fail; should it ever, it is reported as invalid input, not a panic.
        let body = serde_json::to_vec(&self.body).map_err(|err| InvalidInput::EnrichRequest(err.to_string()))?;
        Ok(config.request(Method::POST, "/v1/enrichment/enrich", Some(body))?)
    }

    fn parse_response<B: AsRef<[u8]>>(&self, response: &Response<B>) -> Result<EnrichResponse, Error> {
        parse_response(response)
    }
}
