//! The access impact of a plan: the access model of live state against the access model of
//! live state once the plan's changes are made (manual steps included: a person makes them).
//!
//! "After" is live with the changes applied, not the desired state, so unmanaged objects that
//! stay (a RAM user msctl does not manage, still holding a policy) keep their access on both
//! sides and only what the plan changes shows.

use crate::access::{self, AccessChanges};
use crate::model::State;

use super::{Action, Change};

/// What `changes` do to access, from `live`.
pub fn access_changes(live: &State, changes: &[Change]) -> AccessChanges {
    if changes.is_empty() {
        return AccessChanges::default();
    }
    let mut after = live.clone();
    for c in changes {
        match (c.action, &c.after) {
            (Action::Delete, _) | (_, None) => {
                after.resources.remove(&c.address);
            }
            (_, Some(resource)) => {
                after.insert(resource.clone());
            }
        }
    }
    access::diff::diff(&access::build(live, &[]), &access::build(&after, &[]))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::backend::Capabilities;
    use crate::model::{Address, Attachment, PolicyType, Principal, Resource};
    use crate::testing::changes_owning_all;

    fn scenario() -> State {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/access");
        let loaded = crate::config::load(crate::config::sources_from_dir(&path).expect("read"));
        loaded.config.expect("the access scenario is valid").desired
    }

    #[test]
    fn a_plan_attaching_full_access_to_a_group_lists_the_new_super_administrators_first() {
        let live = scenario();
        let mut desired = live.clone();
        desired.insert(Resource::Attachment(Attachment {
            principal: Principal::Group("developers".into()),
            policy: "AliyunBailianFullAccess".into(),
            policy_type: PolicyType::System,
        }));
        // Also a plain change, so escalations must be sorted ahead of it.
        desired.resources.remove(&Address::Member {
            workspace: "shop-dev".into(),
            principal: Principal::User("bob".into()),
        });
        let changes = changes_owning_all(&desired, &live, &Capabilities::full());
        let access = access_changes(&live, &changes);
        let lines: Vec<String> = access.changes.iter().map(ToString::to_string).collect();
        assert_eq!(
            lines[..3],
            [
                "alice: + super administrator (every workspace)",
                "bob: + super administrator (every workspace)",
                "group developers: + super administrator (every workspace) -> alice, bob gain it",
            ]
        );
        assert_eq!(access.escalations(), 3);
        assert!(
            lines.contains(&"bob: - member of shop-dev".to_string()),
            "{lines:#?}"
        );
    }

    #[test]
    fn an_empty_plan_changes_no_access() {
        let live = scenario();
        assert!(access_changes(&live, &[]).is_empty());
        let changes = changes_owning_all(&live, &live, &Capabilities::full());
        assert!(access_changes(&live, &changes).is_empty());
    }
}
