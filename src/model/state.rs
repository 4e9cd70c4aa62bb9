//! A set of resources keyed by address: the shape of both desired and live state.
//!
//! Live state may hold two objects that map to one address (two keys named `svc` in one
//! workspace): the first keeps the address, the others sit under [`Address::Duplicate`] with
//! their platform ids, so the differ can report or delete them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Address, KeyRotation, LiveKey, Resource};

/// Resources by address, in plan display order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct State {
    pub resources: BTreeMap<Address, Resource>,
    /// Desired state only: the rotation policy of each declared API key that has one.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub key_rotation: BTreeMap<Address, KeyRotation>,
    /// Live state only: each API key's platform id and creation time, by the address it is read
    /// at (duplicates under theirs). Never compared: rotation and drift read it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub live_keys: BTreeMap<Address, LiveKey>,
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

    /// Keeps the platform's id and creation time of the live key at `address`.
    pub fn set_live_key(&mut self, address: Address, key: LiveKey) {
        self.live_keys.insert(address, key);
    }

    /// After a rotation two live keys share an address until the predecessor is deleted: the
    /// key whose id is in `retiring` gives the address up to the lowest-id other one and takes
    /// its own `ADDRESS#ID`. Reads call this with the ledger's retiring ids, and writes by
    /// address pick the same key, so the successor is "the" key while the predecessor waits.
    pub fn seat_successors(&mut self, retiring: &std::collections::BTreeSet<String>) {
        if retiring.is_empty() {
            return;
        }
        // Keys read under `ADDRESS#ID`, by `ADDRESS`: the candidates for a successor.
        let mut others: BTreeMap<&Address, Vec<(&Address, &LiveKey)>> = BTreeMap::new();
        for (address, live) in &self.live_keys {
            if let Address::Duplicate { of, .. } = address
                && !retiring.contains(&live.id)
            {
                others.entry(of).or_default().push((address, live));
            }
        }
        let mut moves = Vec::new();
        for (address, live) in &self.live_keys {
            if matches!(address, Address::Duplicate { .. }) || !retiring.contains(&live.id) {
                continue;
            }
            // The lowest id among the other keys at this address that are not retiring.
            let successor = others
                .get(address)
                .into_iter()
                .flatten()
                .min_by_key(|(_, k)| (k.id.len(), k.id.clone()))
                .map(|(a, _)| (*a).clone());
            if let Some(successor) = successor {
                moves.push((address.clone(), successor));
            }
        }
        for (address, successor) in moves {
            let (Some(old), Some(new)) = (
                self.resources.remove(&address),
                self.resources.remove(&successor),
            ) else {
                continue;
            };
            let old_key = self.live_keys.remove(&address);
            let new_key = self.live_keys.remove(&successor);
            let Some(old_key) = old_key else { continue };
            let old_address = Address::Duplicate {
                of: Box::new(address.clone()),
                id: old_key.id.clone(),
            };
            self.resources.insert(address.clone(), new);
            self.resources.insert(old_address.clone(), old);
            if let Some(new_key) = new_key {
                self.live_keys.insert(address, new_key);
            }
            self.live_keys.insert(old_address, old_key);
        }
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
