//! Splitting PEM bundles into single certificates.

/// The `CERTIFICATE` blocks of a PEM text, each re-encoded on its own; other blocks are
/// ignored. Fails on text that is not PEM at all.
pub fn split_certificates(text: &str) -> Result<Vec<String>, String> {
    let lf = pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF);
    let blocks = pem::parse_many(text).map_err(|e| format!("not PEM: {e}"))?;
    Ok(blocks
        .into_iter()
        .filter(|b| b.tag() == "CERTIFICATE")
        .map(|b| pem::encode_config(&b, lf))
        .collect())
}

/// The DER bytes of one PEM certificate.
pub(crate) fn der_of(pem_text: &str) -> Result<Vec<u8>, String> {
    let block = pem::parse(pem_text).map_err(|e| format!("not PEM: {e}"))?;
    if block.tag() != "CERTIFICATE" {
        return Err(format!("a {} block, not a CERTIFICATE", block.tag()));
    }
    Ok(block.into_contents())
}
