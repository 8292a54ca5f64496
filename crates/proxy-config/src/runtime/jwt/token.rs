//! One JWT (compact JWS, RFC 7515/7519): decoding, the claim checks and the signature check,
//! with Envoy's status strings (jwt_verify_lib) as the error messages.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{self as sig, RsaPublicKeyComponents, UnparsedPublicKey};
use serde_json::{Map, Value};

use super::keys::{Jwks, KeyMaterial};

/// Why a token was not accepted; `Display` is Envoy's status text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("Jwt is missing")]
    Missing,
    #[error("Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections")]
    BadFormat,
    #[error("Jwt header is an invalid Base64url encoded")]
    HeaderBadBase64,
    #[error("Jwt header is an invalid JSON")]
    HeaderBadJson,
    #[error("Jwt header [alg] field is required and must be a string")]
    HeaderBadAlg,
    #[error("Jwt header [alg] is not supported")]
    AlgNotImplemented,
    #[error("Jwt payload is an invalid Base64url encoded")]
    PayloadBadBase64,
    #[error("Jwt payload is an invalid JSON")]
    PayloadBadJson,
    #[error("Jwt signature is an invalid Base64url encoded")]
    SignatureBadBase64,
    #[error("Jwt issuer is not configured")]
    UnknownIssuer,
    #[error("Audiences in Jwt are not allowed")]
    AudienceNotAllowed,
    #[error("Jwt not yet valid")]
    NotYetValid,
    #[error("Jwt is expired")]
    Expired,
    #[error("Jwks doesn't have key to match kid or alg from Jwt")]
    KidAlgMismatch,
    #[error("Jwt verification fails")]
    VerificationFail,
    #[error("Jwks remote fetch is failed")]
    JwksFetchFail,
}

impl JwtError {
    /// Envoy's `response_code_details`: the status text with spaces as underscores.
    pub fn details(self) -> &'static str {
        match self {
            Self::Missing => "jwt_authn_access_denied{Jwt_is_missing}",
            Self::BadFormat => {
                "jwt_authn_access_denied{Jwt_is_not_in_the_form_of_Header.Payload.Signature_with_two_dots_and_3_sections}"
            }
            Self::HeaderBadBase64 => {
                "jwt_authn_access_denied{Jwt_header_is_an_invalid_Base64url_encoded}"
            }
            Self::HeaderBadJson => "jwt_authn_access_denied{Jwt_header_is_an_invalid_JSON}",
            Self::HeaderBadAlg => {
                "jwt_authn_access_denied{Jwt_header_[alg]_field_is_required_and_must_be_a_string}"
            }
            Self::AlgNotImplemented => "jwt_authn_access_denied{Jwt_header_[alg]_is_not_supported}",
            Self::PayloadBadBase64 => {
                "jwt_authn_access_denied{Jwt_payload_is_an_invalid_Base64url_encoded}"
            }
            Self::PayloadBadJson => "jwt_authn_access_denied{Jwt_payload_is_an_invalid_JSON}",
            Self::SignatureBadBase64 => {
                "jwt_authn_access_denied{Jwt_signature_is_an_invalid_Base64url_encoded}"
            }
            Self::UnknownIssuer => "jwt_authn_access_denied{Jwt_issuer_is_not_configured}",
            Self::AudienceNotAllowed => "jwt_authn_access_denied{Audiences_in_Jwt_are_not_allowed}",
            Self::NotYetValid => "jwt_authn_access_denied{Jwt_not_yet_valid}",
            Self::Expired => "jwt_authn_access_denied{Jwt_is_expired}",
            Self::KidAlgMismatch => {
                "jwt_authn_access_denied{Jwks_doesn't_have_key_to_match_kid_or_alg_from_Jwt}"
            }
            Self::VerificationFail => "jwt_authn_access_denied{Jwt_verification_fails}",
            Self::JwksFetchFail => "jwt_authn_access_denied{Jwks_remote_fetch_is_failed}",
        }
    }

    /// Envoy answers a token for another audience 403 and every other failure 401.
    pub fn http_status(self) -> u16 {
        match self {
            Self::AudienceNotAllowed => 403,
            _ => 401,
        }
    }
}

/// A decoded, not yet verified token.
#[derive(Debug, Clone)]
pub struct Jwt {
    pub alg: String,
    pub kid: Option<String>,
    pub payload: Map<String, Value>,
    /// The payload segment as sent (base64url), for `forward_payload_header`.
    pub payload_b64: String,
    signed: String,
    signature: Vec<u8>,
}

const SUPPORTED_ALGS: [&str; 9] = [
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
];

impl Jwt {
    /// Decodes the three segments; `alg: none`, `HS*` and other algorithms are refused here.
    pub fn decode(token: &str) -> Result<Self, JwtError> {
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JwtError::BadFormat);
        };
        let header_bytes = URL_SAFE_NO_PAD
            .decode(h)
            .map_err(|_| JwtError::HeaderBadBase64)?;
        let header: Value =
            serde_json::from_slice(&header_bytes).map_err(|_| JwtError::HeaderBadJson)?;
        let alg = header
            .get("alg")
            .and_then(Value::as_str)
            .ok_or(JwtError::HeaderBadAlg)?;
        if !SUPPORTED_ALGS.contains(&alg) {
            return Err(JwtError::AlgNotImplemented);
        }
        let payload_bytes = URL_SAFE_NO_PAD
            .decode(p)
            .map_err(|_| JwtError::PayloadBadBase64)?;
        let payload = match serde_json::from_slice(&payload_bytes) {
            Ok(Value::Object(m)) => m,
            _ => return Err(JwtError::PayloadBadJson),
        };
        let signature = URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|_| JwtError::SignatureBadBase64)?;
        Ok(Self {
            alg: alg.to_string(),
            kid: header
                .get("kid")
                .and_then(Value::as_str)
                .map(str::to_string),
            payload,
            payload_b64: p.to_string(),
            signed: format!("{h}.{p}"),
            signature,
        })
    }

    pub fn claim_str(&self, name: &str) -> Option<&str> {
        self.payload.get(name).and_then(Value::as_str)
    }

    /// `aud` as a list (a single string is a list of one).
    pub fn audiences(&self) -> Vec<&str> {
        match self.payload.get("aud") {
            Some(Value::String(s)) => vec![s.as_str()],
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        }
    }

    /// `exp` and `nbf` against `now` (seconds since the epoch) with `skew` seconds of slack.
    pub fn check_time(&self, now: u64, skew: u64) -> Result<(), JwtError> {
        let num = |k: &str| self.payload.get(k).and_then(Value::as_f64);
        if let Some(nbf) = num("nbf")
            && nbf > (now + skew) as f64
        {
            return Err(JwtError::NotYetValid);
        }
        if let Some(exp) = num("exp")
            && exp + (skew as f64) < now as f64
        {
            return Err(JwtError::Expired);
        }
        Ok(())
    }

    /// The signature against the keys: by `kid` when the token names one, else every key
    /// whose type fits `alg`.
    pub fn verify_signature(&self, jwks: &Jwks) -> Result<(), JwtError> {
        let mut candidates = jwks
            .keys
            .iter()
            .filter(|k| self.kid.is_none() || k.kid == self.kid)
            .filter(|k| k.material.fits(&self.alg))
            .filter(|k| k.alg.as_deref().is_none_or(|a| a == self.alg))
            .peekable();
        if candidates.peek().is_none() {
            return Err(JwtError::KidAlgMismatch);
        }
        if candidates.any(|k| self.verify_with(&k.material)) {
            Ok(())
        } else {
            Err(JwtError::VerificationFail)
        }
    }

    fn verify_with(&self, key: &KeyMaterial) -> bool {
        let msg = self.signed.as_bytes();
        let sig_bytes = self.signature.as_slice();
        match key {
            KeyMaterial::Rsa { n, e } => {
                let params: &sig::RsaParameters = match self.alg.as_str() {
                    "RS256" => &sig::RSA_PKCS1_2048_8192_SHA256,
                    "RS384" => &sig::RSA_PKCS1_2048_8192_SHA384,
                    "RS512" => &sig::RSA_PKCS1_2048_8192_SHA512,
                    "PS256" => &sig::RSA_PSS_2048_8192_SHA256,
                    "PS384" => &sig::RSA_PSS_2048_8192_SHA384,
                    "PS512" => &sig::RSA_PSS_2048_8192_SHA512,
                    _ => return false,
                };
                RsaPublicKeyComponents { n, e }
                    .verify(params, msg, sig_bytes)
                    .is_ok()
            }
            KeyMaterial::EcP256(point) => {
                UnparsedPublicKey::new(&sig::ECDSA_P256_SHA256_FIXED, point)
                    .verify(msg, sig_bytes)
                    .is_ok()
            }
            KeyMaterial::EcP384(point) => {
                UnparsedPublicKey::new(&sig::ECDSA_P384_SHA384_FIXED, point)
                    .verify(msg, sig_bytes)
                    .is_ok()
            }
            KeyMaterial::Ed25519(x) => UnparsedPublicKey::new(&sig::ED25519, x)
                .verify(msg, sig_bytes)
                .is_ok(),
        }
    }
}
