//! A set of resources keyed by address: the shape of both desired and live state.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Address, Resource};

/// Resources by address, in plan display order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub resources: BTreeMap<Address, Resource>,
}

impl State {
    /// Adds a resource under its own address, returning the one it replaced, if any.
    pub fn insert(&mut self, resource: Resource) -> Option<Resource> {
        self.resources.insert(resource.address(), resource)
    }

    pub fn get(&self, address: &Address) -> Option<&Resource> {
        self.resources.get(address)
    }

    pub fn len(&self) -> usize {
        self.resources.len()
    }

    pub fn is_empty(&self) -> bool {
        self.resources.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Address, &Resource)> {
        self.resources.iter()
    }
}

impl FromIterator<Resource> for State {
    fn from_iter<I: IntoIterator<Item = Resource>>(iter: I) -> Self {
        let mut state = State::default();
        for r in iter {
            state.insert(r);
        }
        state
    }
}
