//! Paging: every item of a listing, in each product's paging style, resumed at the failed page
//! when a read runs a listing again.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use serde_json::Value;

use super::base::AliyunBackend;
use super::client::RequestSpec;
use super::json::{boolean, int, list, string};
use super::parallel::lock;
use crate::backend::BackendError;

/// Pages a listing may take before msctl assumes the API is looping (a repeated token, say).
const MAX_PAGES: usize = 10_000;

/// How far a listing got before a page failed: the items so far and where to continue.
#[derive(Debug, Default)]
pub(super) struct Partial {
    items: Vec<Value>,
    /// The next page's token or marker (the page number for AIWorkSpace); none for the first.
    cursor: Option<String>,
    /// Tokens seen so far, to catch an API that loops.
    seen: BTreeSet<String>,
    pages: usize,
}

/// Clears the resume map when a read ends, however it ends.
pub(super) struct Resuming<'a>(&'a Mutex<Option<HashMap<String, Partial>>>);

impl Drop for Resuming<'_> {
    fn drop(&mut self) {
        *lock(self.0) = None;
    }
}

impl AliyunBackend {
    /// Turns on resuming for the read that holds the guard: a listing whose page fails keeps
    /// what it read, and when the job runs again it continues at that page instead of
    /// starting over. Only within one read: a lookup during an apply must see its own writes.
    pub(super) fn resuming(&self) -> Resuming<'_> {
        *lock(&self.resume) = Some(HashMap::new());
        Resuming(&self.resume)
    }

    /// The saved progress of a listing (or a fresh start).
    fn partial(&self, key: &str) -> Partial {
        lock(&self.resume)
            .as_mut()
            .and_then(|m| m.remove(key))
            .unwrap_or_default()
    }

    /// Keeps a listing's progress after a failed page, when a read is resuming.
    fn keep_partial(&self, key: String, partial: Partial) {
        if let Some(map) = lock(&self.resume).as_mut() {
            map.insert(key, partial);
        }
    }

    /// One page of a listing; on failure the progress is kept for the next run of the job.
    fn page(
        &self,
        key: &str,
        partial: &mut Partial,
        spec: &RequestSpec,
    ) -> Result<Value, BackendError> {
        match self.call(spec) {
            Ok(body) => {
                partial.pages += 1;
                Ok(body)
            }
            Err(e) => {
                self.keep_partial(key.to_string(), std::mem::take(partial));
                Err(e)
            }
        }
    }

    /// Every item of a Model Studio listing: `maxResults` + `nextToken`, until the token is absent
    /// or empty (contract §1.1).
    pub(super) fn ms_pages(
        &self,
        spec: &RequestSpec,
        page_size: u32,
        items_key: &str,
    ) -> Result<Vec<Value>, BackendError> {
        let key = resume_key(spec, page_size);
        let mut p = self.partial(&key);
        while p.pages < MAX_PAGES {
            let mut page = spec.clone().query("maxResults", page_size.to_string());
            if let Some(t) = &p.cursor {
                page = page.query("nextToken", t.clone());
            }
            let body = self.page(&key, &mut p, &page)?;
            p.items
                .extend(list(&body, &[items_key]).into_iter().cloned());
            match string(&body, &["nextToken", "NextToken"]).filter(|t| !t.is_empty()) {
                Some(next) => {
                    if !p.seen.insert(next.clone()) {
                        return Err(looping(&spec.action));
                    }
                    p.cursor = Some(next);
                }
                None => return Ok(p.items),
            }
        }
        Err(looping(&spec.action))
    }

    /// Every item of a RAM listing: `MaxItems` + `Marker` while `IsTruncated` (contract §2.1).
    /// `path` leads to the wrapped list, e.g. `["Users", "User"]`.
    pub(super) fn ram_pages(
        &self,
        spec: &RequestSpec,
        page_size: u32,
        path: &[&str],
    ) -> Result<Vec<Value>, BackendError> {
        let key = resume_key(spec, page_size);
        let mut p = self.partial(&key);
        while p.pages < MAX_PAGES {
            let mut page = spec.clone();
            if let Some(m) = &p.cursor {
                page = page.query("Marker", m.clone());
            }
            let page = page.query("MaxItems", page_size.to_string());
            let body = self.page(&key, &mut p, &page)?;
            p.items.extend(list(&body, path).into_iter().cloned());
            let truncated = boolean(&body, &["IsTruncated"]).unwrap_or(false);
            match string(&body, &["Marker"]).filter(|m| !m.is_empty()) {
                Some(next) if truncated => {
                    if !p.seen.insert(next.clone()) {
                        return Err(looping(&spec.action));
                    }
                    p.cursor = Some(next);
                }
                _ => return Ok(p.items),
            }
        }
        Err(looping(&spec.action))
    }

    /// Every item of an AIWorkSpace listing: `PageNumber` from 1 + `PageSize`, until
    /// `TotalCount` items arrived or a page comes back empty (contract §3.1). Without a
    /// `TotalCount`, a short page is the last; with one, a server that caps the page size below
    /// the one asked for is still walked to the end.
    pub(super) fn pai_pages(
        &self,
        spec: &RequestSpec,
        page_size: u32,
        items_key: &str,
    ) -> Result<Vec<Value>, BackendError> {
        let key = resume_key(spec, page_size);
        let mut p = self.partial(&key);
        while p.pages < MAX_PAGES {
            let number = p.pages + 1;
            let page = spec
                .clone()
                .query("PageNumber", number.to_string())
                .query("PageSize", page_size.to_string());
            let body = self.page(&key, &mut p, &page)?;
            let got = list(&body, &[items_key]);
            let empty = got.is_empty();
            let short = got.len() < page_size as usize;
            p.items.extend(got.into_iter().cloned());
            let done = match int(&body, &["TotalCount", "totalCount"]) {
                Some(total) => empty || p.items.len() as i64 >= total,
                None => short,
            };
            if done {
                return Ok(p.items);
            }
        }
        Err(looping(&spec.action))
    }
}

/// What identifies one listing for resuming: the request without its paging parameters.
fn resume_key(spec: &RequestSpec, page_size: u32) -> String {
    format!(
        "{:?} {} {:?} {} {:?} {page_size}",
        spec.product, spec.action, spec.region, spec.path, spec.query
    )
}

fn looping(action: &str) -> BackendError {
    BackendError::Transport(format!(
        "failed to list with `{action}`: the API kept returning more pages (a repeated page \
         token or over {MAX_PAGES} pages)"
    ))
}
