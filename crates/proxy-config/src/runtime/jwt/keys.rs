//! JSON Web Key Sets (RFC 7517) reduced to the public keys weft can verify with: RSA, EC P-256 /
//! P-384 and Ed25519. Symmetric (`oct`) and unknown keys are skipped, so an `HS*` token can never
//! match a key of a public JWKS.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

/// One usable public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jwk {
    pub kid: Option<String>,
    /// The key's own `alg`, when it names one.
    pub alg: Option<String>,
    pub material: KeyMaterial,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyMaterial {
    /// Big-endian modulus and exponent.
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
    },
    /// Uncompressed SEC1 point (`04 || x || y`).
    EcP256(Vec<u8>),
    EcP384(Vec<u8>),
    Ed25519(Vec<u8>),
}

impl KeyMaterial {
    /// Whether a token signed with `alg` may be checked with this key.
    pub fn fits(&self, alg: &str) -> bool {
        matches!(
            (self, alg),
            (
                Self::Rsa { .. },
                "RS256" | "RS384" | "RS512" | "PS256" | "PS384" | "PS512"
            ) | (Self::EcP256(_), "ES256")
                | (Self::EcP384(_), "ES384")
                | (Self::Ed25519(_), "EdDSA")
        )
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

/// Why a JWKS document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwksError {
    #[error("Jwks is not valid JSON")]
    BadJson,
    #[error("[keys] does not exist")]
    NoKeys,
    #[error("Jwks doesn't have valid keys")]
    NoValidKeys,
}

impl Jwks {
    /// Parses a JWKS; keys that are malformed or of an unsupported type are skipped, and a set
    /// left without keys is an error (as Envoy's `Jwks doesn't have valid keys`).
    pub fn parse(text: &str) -> Result<Self, JwksError> {
        let doc: Value = serde_json::from_str(text).map_err(|_| JwksError::BadJson)?;
        let list = doc
            .get("keys")
            .and_then(Value::as_array)
            .ok_or(JwksError::NoKeys)?;
        let keys: Vec<Jwk> = list.iter().filter_map(parse_key).collect();
        if keys.is_empty() {
            return Err(JwksError::NoValidKeys);
        }
        Ok(Self { keys })
    }
}

fn field<'a>(key: &'a Value, name: &str) -> Option<&'a str> {
    key.get(name).and_then(Value::as_str)
}

fn b64(key: &Value, name: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD
        .decode(field(key, name)?.trim_end_matches('='))
        .ok()
}

fn parse_key(key: &Value) -> Option<Jwk> {
    let material = match field(key, "kty")? {
        "RSA" => KeyMaterial::Rsa {
            n: strip_zeros(b64(key, "n")?),
            e: strip_zeros(b64(key, "e")?),
        },
        "EC" => {
            let (x, y) = (b64(key, "x")?, b64(key, "y")?);
            match field(key, "crv")? {
                "P-256" => KeyMaterial::EcP256(ec_point(&x, &y, 32)?),
                "P-384" => KeyMaterial::EcP384(ec_point(&x, &y, 48)?),
                _ => return None,
            }
        }
        "OKP" if field(key, "crv")? == "Ed25519" => {
            let x = b64(key, "x")?;
            (x.len() == 32).then_some(KeyMaterial::Ed25519(x))?
        }
        _ => return None,
    };
    let alg = field(key, "alg").map(str::to_string);
    if alg.as_deref().is_some_and(|a| !material.fits(a)) {
        return None;
    }
    Some(Jwk {
        kid: field(key, "kid").map(str::to_string),
        alg,
        material,
    })
}

fn strip_zeros(mut v: Vec<u8>) -> Vec<u8> {
    let zeros = v.iter().take_while(|b| **b == 0).count();
    v.drain(..zeros);
    v
}

/// `04 || x || y` with each coordinate left-padded to the curve's size.
fn ec_point(x: &[u8], y: &[u8], size: usize) -> Option<Vec<u8>> {
    if x.len() > size || y.len() > size {
        return None;
    }
    let mut out = vec![4u8];
    for c in [x, y] {
        out.extend(std::iter::repeat_n(0, size - c.len()));
        out.extend_from_slice(c);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_symmetric_and_unknown_keys() {
        let text = r#"{"keys":[
            {"kty":"oct","k":"c2VjcmV0","kid":"h"},
            {"kty":"EC","crv":"P-521","x":"AA","y":"AA"},
            {"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"e"}
        ]}"#;
        let jwks = Jwks::parse(text).unwrap();
        assert_eq!(jwks.keys.len(), 1);
        assert_eq!(jwks.keys[0].kid.as_deref(), Some("e"));
    }

    #[test]
    fn a_set_of_only_secrets_has_no_valid_keys() {
        let text = r#"{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}"#;
        assert_eq!(Jwks::parse(text), Err(JwksError::NoValidKeys));
        assert_eq!(Jwks::parse("{}"), Err(JwksError::NoKeys));
        assert_eq!(Jwks::parse("nope"), Err(JwksError::BadJson));
    }

    #[test]
    fn a_key_whose_alg_does_not_fit_its_type_is_skipped() {
        let text = r#"{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB","alg":"HS256"}]}"#;
        assert_eq!(Jwks::parse(text), Err(JwksError::NoValidKeys));
    }
}
