//! A set of resources keyed by address: the shape of both desired and live state.
//!
//! Live state may hold two objects that map to one address (two keys named `svc` in one
//! workspace): the first keeps the address, the others sit under [`Address::Duplicate`] with
//! their platform ids, so the differ can report or delete them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Address, Resource};

/// Resources by address, in plan display order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub resources: BTreeMap<Address, Resource>,
    /// Desired state only: the declared in-place renames (`renamed_from`), new address to old.
    /// The differ renames the live object at the old address when the new one is not live.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub renames: BTreeMap<Address, Address>,
}

impl State {
    /// Adds a resource under its own address, returning the one it replaced, if any.
    pub fn insert(&mut self, resource: Resource) -> Option<Resource> {
        self.resources.insert(resource.address(), resource)
    }

    /// Adds a second live object at `resource`'s address, under [`Address::Duplicate`] with
    /// its platform id: reads report every live object, so none is invisible to plan and drift.
    pub fn insert_duplicate(&mut self, resource: Resource, id: String) {
        let address = Address::Duplicate {
            of: Box::new(resource.address()),
            id,
        };
        self.resources.insert(address, resource);
    }

    /// Live objects that share an address with another one (see [`State::insert_duplicate`]).
    pub fn duplicates(&self) -> impl Iterator<Item = (&Address, &Resource)> {
        self.resources
            .iter()
            .filter(|(a, _)| matches!(a, Address::Duplicate { .. }))
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
