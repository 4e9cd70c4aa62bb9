//! Quota splits: amounts checked against the API's range, allocations, and what is left
//! unallocated.

use super::*;

impl Builder<'_> {
    pub(super) fn quotas(&mut self) -> Vec<QuotaSplit> {
        let p = self.parsed;
        let mut out = Vec::new();
        let mut seen: HashMap<(String, String), Span> = HashMap::new();
        for q in &p.quotas {
            let v = &q.value;
            let model_span = self.span(q, &path!["model"]);
            let region = match &v.region {
                Some(r) => {
                    let span = self.span(q, &path!["region"]);
                    if !self.known_region(r, span) {
                        continue;
                    }
                    r.clone()
                }
                None => match &self.settings.default_region {
                    Some(r) => r.clone(),
                    None => {
                        self.error(
                            model_span,
                            "quota split has no `region` and msctl.toml sets no \
                                `project.default_region`",
                            "add `region = \"cn-beijing\"`",
                        );
                        continue;
                    }
                },
            };
            if let Some(first) = seen.get(&(region.clone(), v.model.clone())) {
                let first = first.clone();
                self.diags.push(
                    Diagnostic::error(format!(
                        "quota for `{}` in {region} is defined twice",
                        v.model
                    ))
                    .at(model_span)
                    .related(first, "first defined here")
                    .hint("merge the two splits"),
                );
                continue;
            }
            seen.insert((region.clone(), v.model.clone()), model_span.clone());
            let total = v.requests_per_minute;
            let reserve = match &v.reserve {
                Some(r) => {
                    let span = self.span(q, &path!["reserve"]);
                    self.amount(r, span.clone())
                        .and_then(|a| self.api_value(a.of(total), span, "the reserve"))
                        .unwrap_or(0)
                }
                None => 0,
            };
            let mut split = QuotaSplit {
                region: region.clone(),
                model: v.model.clone(),
                requests_per_minute: total,
                tokens_per_minute: v.tokens_per_minute,
                reserve,
                allocations: Vec::new(),
            };
            for (ws, raw) in &v.allocations {
                let span = self
                    .parsed
                    .locator
                    .key_span(q, &path!["allocations", ws.as_str()]);
                let Some(a) = self.amount(raw, span.clone()) else {
                    continue;
                };
                if !self.ws_ref(ws, span.clone()) {
                    continue;
                }
                let info = &self.workspaces[ws];
                if info.region != region {
                    let r = info.region.clone();
                    self.error(
                        span,
                        format!("`{ws}` is in {r}, but this split is for {region}"),
                        "allocate only to workspaces of the split's region",
                    );
                    continue;
                }
                if info.default {
                    self.error(
                        span,
                        format!("`{ws}` is a default workspace: it takes no limits"),
                        "allocate only to sub-workspaces",
                    );
                    continue;
                }
                if !self.authorized(ws, &v.model, span.clone(), "a quota allocation") {
                    continue;
                }
                let what = format!("the allocation of `{ws}`");
                let Some(requests) = self.api_value(a.of(total), span.clone(), &what) else {
                    continue;
                };
                let tokens = match split.tokens_for(requests) {
                    None => None,
                    Some(t) => {
                        let what = format!("the tokens per minute derived for `{ws}`");
                        let Some(t) = self.api_value(t, span.clone(), &what) else {
                            continue;
                        };
                        Some(t)
                    }
                };
                split.allocations.push(Allocation {
                    workspace: ws.clone(),
                    amount: a,
                    requests_per_minute: requests,
                    tokens_per_minute: tokens,
                });
                // An explicit limit must agree with the split.
                let addr = Address::ModelLimit {
                    workspace: ws.clone(),
                    model: v.model.clone(),
                };
                match self.desired.get(&addr) {
                    Some(Resource::ModelLimit(l)) => {
                        let per_minute =
                            u128::from(l.requests) * 60 / u128::from(l.request_period.max(1));
                        if per_minute != u128::from(requests) {
                            let lspan = self.origins.get(&addr).cloned().unwrap_or(span.clone());
                            self.diags.push(
                                Diagnostic::error(format!(
                                    "explicit limit of `{ws}` for `{}` ({per_minute} \
                                    requests/min) contradicts the quota split ({requests} \
                                    requests/min)",
                                    v.model
                                ))
                                .at(lspan)
                                .related(span.clone(), "allocated here")
                                .hint("remove the explicit limit; the split derives it"),
                            );
                        }
                    }
                    _ => {
                        self.origins.insert(addr, span.clone());
                        if let Some(info) = self.workspaces.get_mut(ws) {
                            info.limited.insert(v.model.clone());
                        }
                        self.desired.insert(Resource::ModelLimit(ModelLimit {
                            workspace: ws.clone(),
                            model: v.model.clone(),
                            requests,
                            request_period: 60,
                            tokens,
                            usage_period: tokens.map(|_| 60),
                        }));
                    }
                }
            }
            // Overcommit is judged on every amount as written, even where a workspace reference
            // is broken, so both problems are reported at once.
            // In 128 bits: a sum of 64-bit amounts cannot overflow it, so the check is exact.
            let declared: u128 = v
                .allocations
                .values()
                .filter_map(|raw| match raw {
                    RawAmount::Absolute(n) => Some(u128::from(*n)),
                    RawAmount::Share(s) => Amount::parse_share(s).ok().map(|a| a.of(total)),
                })
                .sum();
            let used = declared + u128::from(reserve);
            if used > u128::from(total) {
                let span = self.span(q, &path!["allocations"]);
                self.error(
                    span,
                    format!(
                        "quota for `{}` in {region} is overcommitted: allocations {declared} + \
                        reserve {reserve} = {used} > total {total} requests/min",
                        v.model
                    ),
                    "lower the allocations or the reserve so they fit the total",
                );
            }
            split.allocations.sort_by(|a, b| {
                b.requests_per_minute
                    .cmp(&a.requests_per_minute)
                    .then(a.workspace.cmp(&b.workspace))
            });
            out.push(split);
        }
        out
    }

    /// A derived limit as the API takes it: `requestLimit` and `usageLimit` are int64 fields, so
    /// a value above `i64::MAX` is an error at `span`, never a wrapped or saturated number.
    pub(super) fn api_value(&mut self, value: u128, span: Span, what: &str) -> Option<u64> {
        match u64::try_from(value) {
            Ok(v) if v <= rules::API_LIMIT_MAX => Some(v),
            _ => {
                self.error(
                    span,
                    format!(
                        "{what} comes to {value}, more than the API's largest limit ({})",
                        rules::API_LIMIT_MAX
                    ),
                    "limits are 64-bit signed integers in the Model Studio API; lower the numbers",
                );
                None
            }
        }
    }

    pub(super) fn amount(&mut self, raw: &RawAmount, span: Span) -> Option<Amount> {
        let a = match raw {
            RawAmount::Absolute(n) => Amount::Absolute(*n),
            RawAmount::Share(s) => match Amount::parse_share(s) {
                Ok(a) => a,
                Err(e) => {
                    self.error(
                        span,
                        e,
                        "write an absolute number like 600 or a share like \"60%\"",
                    );
                    return None;
                }
            },
        };
        if let Amount::PerMille(pm) = a
            && pm > 1000
        {
            self.error(
                span,
                format!("{}% is more than 100%", pm as f64 / 10.0),
                "a share is at most \"100%\"",
            );
            return None;
        }
        Some(a)
    }

    /// Sub-workspaces authorizing a split model without a limit can starve the split.
    pub(super) fn unallocated(&mut self, quotas: &[QuotaSplit]) {
        let deny = self.settings.unallocated == UnallocatedPolicy::Deny;
        let split_models: BTreeSet<(&str, &str)> = quotas
            .iter()
            .map(|q| (q.region.as_str(), q.model.as_str()))
            .collect();
        let mut found = Vec::new();
        for (name, info) in &self.workspaces {
            if info.default {
                continue;
            }
            for model in &info.inference {
                if split_models.contains(&(info.region.as_str(), model.as_str()))
                    && !info.limited.contains(model)
                {
                    found.push((
                        name.clone(),
                        model.clone(),
                        info.region.clone(),
                        info.span.clone(),
                    ));
                }
            }
        }
        for (ws, model, region, span) in found {
            let msg = format!(
                "`{ws}` authorizes `{model}` but has no allocation in the {region} \
                        split: it can use the whole account quota"
            );
            let hint = "add it to the split's `allocations`, or give it an explicit limit";
            if deny {
                self.error(span, msg, hint);
            } else {
                let subject = Address::ModelPermission {
                    workspace: ws.clone(),
                    model: model.clone(),
                };
                self.warn_about(
                    span,
                    &subject,
                    msg,
                    format!("{hint} (set `safety.unallocated = \"deny\"` to make this an error)"),
                );
            }
        }
    }
}
