//! The resource model shared by desired state, live state, plans and backends.

pub mod address;
pub mod error;
pub mod platform;
pub mod rename;
pub mod resource;
pub mod rotation;
pub mod scope;
pub mod state;
pub mod time;

pub use address::{Address, Principal};
pub use error::BackendError;
pub use rename::Rename;
pub use resource::{
    ApiKey, Attachment, Attribute, GroupMember, Member, ModelLimit, ModelPermission, PaiMember,
    PaiWorkspace, PolicyType, RamGroup, RamPolicy, RamRole, RamUser, Resource, Workspace,
};
pub use rotation::{KeyRotation, LiveKey};
pub use scope::ReadScope;
pub use state::State;
