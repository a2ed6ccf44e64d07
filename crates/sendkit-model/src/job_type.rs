use crate::string_enum::string_enum;

string_enum! {
    /// What a job does. The API documents `email_verification` only, so that is the one named variant. Jobs of
    /// the other enrichment types have types the docs never show; they arrive as [`JobType::Unknown`] with the
    /// server's string (the emulator names them `phone_enrichment`, `seg_gateway`, `esp_detection`, a guess that
    /// follows the documented one), and a future version may name them once the API documents them.
    pub enum JobType {
        /// Email verification of the job's leads (created by the `email` enrichment type).
        EmailVerification = "email_verification",
    }
}

string_enum! {
    /// An enrichment to run on leads, as named in the body of `POST /v1/enrichment/enrich`.
    pub enum EnrichmentType {
        /// Find and verify the lead's email: 1 credit per lead.
        Email = "email",
        /// Find the lead's phone number: 20 credits per lead.
        PhoneEnrichment = "phoneEnrichment",
        /// Secure email gateway detection: free.
        SegGateway = "segGateway",
        /// Email service provider detection: free.
        EspDetection = "espDetection",
    }
}

impl EnrichmentType {
    /// Credits the API documents as deducted per lead for this type, or `None` for a type the SDK does not know.
    pub fn credits_per_lead(&self) -> Option<u64> {
        match self {
            Self::Email => Some(1),
            Self::PhoneEnrichment => Some(20),
            Self::SegGateway | Self::EspDetection => Some(0),
            Self::Unknown(_) => None,
        }
    }
}
