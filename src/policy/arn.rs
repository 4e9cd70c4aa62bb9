//! The structure of an Alibaba Cloud resource name in a policy's `Resource`.

/// Checks the structure `acs:<service>:<region>:<account-id>:<relative-id>`; region and account
/// may be empty, `*` or masked, the relative id may contain `:` (`kms` tag keys do).
pub(crate) fn check_arn(arn: &str) -> Result<(), (String, Option<String>)> {
    const FORMAT: &str = "an arn is `acs:<service>:<region>:<account-id>:<relative-id>`, \
                          e.g. `acs:oss:*:*:mybucket/*`";
    if arn.chars().any(char::is_whitespace) {
        return Err((
            format!("resource `{arn}` must not contain whitespace"),
            None,
        ));
    }
    if arn.starts_with("arn:") {
        return Err((
            format!("resource `{arn}` is not an alibaba cloud arn"),
            Some(format!("alibaba cloud arns start with `acs:`; {FORMAT}")),
        ));
    }
    let Some(rest) = arn.strip_prefix("acs:") else {
        return Err((
            format!("resource `{arn}` must be `*` or an arn"),
            Some(FORMAT.to_string()),
        ));
    };
    let parts: Vec<&str> = rest.splitn(4, ':').collect();
    let [service, region, account, relative] = parts.as_slice() else {
        return Err((
            format!("arn `{arn}` must have five `:`-separated parts"),
            Some(format!(
                "{FORMAT}; leave region or account empty or `*`, but keep the `:`"
            )),
        ));
    };
    let wild_code = |s: &str| {
        s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '*')
    };
    if service.is_empty() || !wild_code(service) {
        return Err((
            format!("arn `{arn}` has an invalid service `{service}`"),
            Some(FORMAT.to_string()),
        ));
    }
    if !wild_code(region) {
        return Err((
            format!("arn `{arn}` has an invalid region `{region}`"),
            Some("use a region id such as `cn-beijing`, `*`, or leave it empty".to_string()),
        ));
    }
    if !account
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '*')
    {
        return Err((
            format!("arn `{arn}` has an invalid account `{account}`"),
            Some("use the account id, `*`, or leave it empty".to_string()),
        ));
    }
    if relative.is_empty() {
        return Err((
            format!("arn `{arn}` has an empty relative id"),
            Some(format!("name the resource after the last `:`; {FORMAT}")),
        ));
    }
    Ok(())
}
