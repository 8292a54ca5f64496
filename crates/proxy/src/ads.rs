//! ADS client (state of the world over one gRPC stream).

use weft_proxy_config::model::Bootstrap;

use crate::Control;

#[derive(Debug, Clone)]
pub struct AdsConfig {
    pub cluster: String,
}

impl AdsConfig {
    pub fn from_bootstrap(b: &Bootstrap) -> Result<Option<AdsConfig>, String> {
        let _ = b;
        Ok(None)
    }
}

pub async fn run(control: Control, cfg: AdsConfig) {
    let _ = (control, cfg);
}
