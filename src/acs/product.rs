//! The products msctl calls (and the emulator serves): each fixes an API version and a default
//! host (contract §4.8).

/// Why no host could be built for a call: a missing or malformed region. The client reports it
/// as an invalid request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidHost(pub String);

/// The product a call goes to; it fixes the API version and the default host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Product {
    /// Model Studio 2026-02-10 (ROA, regional).
    ModelStudio,
    /// RAM 2015-05-01 (RPC, one global endpoint).
    Ram,
    /// PAI AIWorkSpace 2021-02-04 (ROA, regional).
    AiWorkspace,
    /// STS 2015-04-01 (RPC; `sts.aliyuncs.com`, or `sts.<region>.aliyuncs.com` given a region).
    Sts,
}

impl Product {
    /// The product's short name, as msctl reports API calls by product (`modelstudio`, `ram`,
    /// `aiworkspace`, `sts`: the first label of its public host).
    pub fn name(self) -> &'static str {
        match self {
            Product::ModelStudio => "modelstudio",
            Product::Ram => "ram",
            Product::AiWorkspace => "aiworkspace",
            Product::Sts => "sts",
        }
    }

    /// The `x-acs-version` header value.
    pub fn version(self) -> &'static str {
        match self {
            Product::ModelStudio => "2026-02-10",
            Product::Ram => "2015-05-01",
            Product::AiWorkspace => "2021-02-04",
            Product::Sts => "2015-04-01",
        }
    }

    /// The default host, e.g. `modelstudio.cn-beijing.aliyuncs.com`. RAM ignores the region: the
    /// SDK's endpoint map sends every documented region to `ram.aliyuncs.com`.
    pub fn default_host(self, region: Option<&str>) -> Result<String, InvalidHost> {
        let regional = |product: &str| match region.map(str::trim).filter(|r| !r.is_empty()) {
            Some(r) if is_region_id(r) => Ok(format!("{product}.{r}.aliyuncs.com")),
            Some(r) => Err(InvalidHost(format!(
                "`{r}` is not a region id (expected something like `cn-beijing`)"
            ))),
            None => Err(InvalidHost(format!(
                "a {product} call needs a region (or --endpoint)"
            ))),
        };
        match self {
            Product::ModelStudio => regional("modelstudio"),
            Product::AiWorkspace => regional("aiworkspace"),
            Product::Ram => Ok("ram.aliyuncs.com".to_string()),
            Product::Sts => match region {
                Some(_) => regional("sts"),
                None => Ok("sts.aliyuncs.com".to_string()),
            },
        }
    }
}

/// Region ids are lower-case letters, digits and dashes; anything else would build a foreign host.
fn is_region_id(r: &str) -> bool {
    r.len() <= 64
        && r.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}
